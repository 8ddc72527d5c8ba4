"""The model: the CIFAR form of ResNet, checkpoints, and the parameter summary."""
