"""DVC's experiments read and compared: the store (the one reader of `dvc exp show` and of an experiment's files),
runs and seed groups with their standard errors, the Pareto front, and the paired test of two experiments'
predictions."""
