"""ResNet on CIFAR-10, CIFAR-100 or your own images: the package shared by every DVC stage in `stages/`."""
