"""Statistics and DVC reads for comparing experiments."""
