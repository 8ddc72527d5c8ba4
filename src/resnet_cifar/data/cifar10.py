"""What CIFAR-10 itself is (Krizhevsky, 2009): the shape of an image, the number of classes and of images.

Imports nothing, so that params validation (config.py) can check against these facts without loading numpy.
"""
IMAGE_SIDE = 32  # pixels; every image is square
CHANNELS = 3  # red, green, blue
IMAGE_SHAPE = (CHANNELS, IMAGE_SIDE, IMAGE_SIDE)  # channels first, as a row of a batch file is laid out
NUM_CLASSES = 10
TRAIN_IMAGES = 50_000  # the five training batches together
TEST_IMAGES = 10_000
