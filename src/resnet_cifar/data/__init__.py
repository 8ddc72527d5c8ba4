"""Data: the CIFAR batches and image folders as uint8 arrays, the seeded subsets, and mini-batches on the training
device."""
