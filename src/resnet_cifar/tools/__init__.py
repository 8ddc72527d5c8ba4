"""Command-line tools that no pipeline stage runs: prediction on image files, recipes as `dvc exp run` arguments,
offline `dvc plots` pages, and experiments compared on one screen."""
