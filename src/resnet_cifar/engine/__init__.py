"""The training engine: the trainer, learning-rate schedules, precision, data-parallel processes, exact resume,
the inference that validation and testing share, and the per-epoch log and the epochs told to a watching search."""
