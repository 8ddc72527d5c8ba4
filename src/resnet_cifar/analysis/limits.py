"""Limits of the analyses that params validation (config.py) checks against; this module imports nothing, so that
checking them loads no numpy."""
MIN_TSNE_SAMPLES = 10  # fewer points make no map worth drawing (plot.tsne_samples is held to it too)
