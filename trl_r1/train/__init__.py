"""Training support shared by the ``grpo``, ``sft`` and ``reward_model`` stages: configuration,
``R1GRPOTrainer``, the training loop around TRL's trainers, checkpoints, metrics files, the
model card / Hub upload, and the engines' CPU shims (``cpu_engines``, rehearsals only)."""
