"""Sampling from a model and judging what it wrote, for the ``evaluate`` and ``sample`` stages:
backends (transformers, vLLM), their shared arguments and resumable loop, the scorer, the
generative judge, R1's readability filters, and the evaluation metrics."""
