"""trl-r1: reproduce DeepSeek-R1 with TRL."""

__version__ = "0.1.0"
