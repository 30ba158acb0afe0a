"""trl-r1: reproduce DeepSeek-R1 with TRL. Importing it defines names and changes nothing else."""

__version__ = "0.1.0"
