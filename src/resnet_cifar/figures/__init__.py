"""Figures (matplotlib, PNG) of what `analysis` computes."""
