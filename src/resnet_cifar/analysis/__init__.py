"""Analysis of a trained model's test predictions: reports, calibration, the feature map, the training history."""
