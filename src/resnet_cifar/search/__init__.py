"""The hyperparameter search of `python -m resnet_cifar.tools.search`: its space (space.py), one trial run as a DVC
experiment (trial.py) and the Optuna study that holds the trials (study.py)."""
