"""Limits that the analyses honour and params validation (config.py) checks.

A leaf module, importing nothing of the package nor numpy: config.py, which every package imports, reads them here,
and so does the code whose outputs they shape (dvc.yaml lists this file among those stages' deps).
"""
MIN_TSNE_SAMPLES = 10  # fewer points make no map worth drawing (plot.tsne_samples is held to it too)
