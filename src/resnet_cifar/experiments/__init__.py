"""Experiments compared with their uncertainty: groups over seeds, standard errors, the Pareto front, and
paired tests of two experiments' predictions read through DVC."""
