"""Training support shared by the ``grpo``, ``sft`` and ``reward_model`` stages: configuration,
``R1GRPOTrainer``, the training loop around TRL's trainers, checkpoints, metrics files and the
model card / Hub upload."""
