"""Robustness to common image corruptions: the CIFAR-10-C corruptions (Hendrycks & Dietterich, ICLR 2019) as
seeded, vectorised numpy functions over a batch of uint8 images (`corruptions.corrupt`)."""
