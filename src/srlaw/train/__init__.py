"""Training one run: model and training settings, models, losses, RecJPQ, the trainer, recipes, curves, ONNX."""
