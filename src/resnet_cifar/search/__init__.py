"""The hyperparameter search of `python -m resnet_cifar.tools.search`, which parses its arguments and calls
`runner.run_search`. Each module owns one part:

- space.py: the search space file, parsed and checked, and each trial's values drawn from it.
- trial.py: one trial run as a DVC experiment (`dvc exp run --temp`, in a session of its own that a stopped search
  ends whole, temporary copy included), and the objective read from its metrics.
- study.py: the Optuna study (storage, sampler), every user attr a trial carries, every query of the study
  (counts, taken, finished, best, failed), the orphaned trials of a killed search, and a lost database as one line.
- runner.py: the loop (objective, one line per trial, when to stop) and `run_search`, the whole search.
- report.py: what a search shows once it stops: the summary, the table of trials, the figures (figures/search.py).
"""
