"""Command-line tools that no pipeline stage runs: prediction on image files, recipes as `dvc exp run` arguments,
and offline `dvc plots` pages."""
