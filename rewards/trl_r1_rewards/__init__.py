"""DeepSeek-R1's rewards as TRL reward functions.

>>> from trl_r1_rewards import load_reward, available_rewards
>>> reward = load_reward("accuracy")          # doctest: +SKIP
>>> GRPOTrainer(..., reward_funcs=[reward])   # doctest: +SKIP
"""

from .registry import GROUP, RewardConflictError, RewardNotFoundError, available_rewards, check_options, load_reward

__all__ = ["GROUP", "RewardConflictError", "RewardNotFoundError", "available_rewards", "check_options", "load_reward"]
__version__ = "0.1.0"
