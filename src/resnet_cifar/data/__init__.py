"""Data: reading the extracted CIFAR-10 batches, the seeded subsets, and mini-batches on the training device."""
