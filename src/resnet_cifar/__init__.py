"""ResNet on CIFAR-10: the package shared by every DVC stage in `stages/`."""
