"""Training: the trainer, its configuration, callbacks, checkpoints, and the engines' CPU shims."""
