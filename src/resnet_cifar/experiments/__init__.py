"""Experiments compared with their uncertainty: groups over seeds, standard errors, the Pareto front."""
