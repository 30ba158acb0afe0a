"""DeepSeek-R1's rewards as TRL reward functions, found by name through entry points.

>>> from trl_r1_rewards import load_reward, available_rewards
>>> reward = load_reward("accuracy")          # doctest: +SKIP
>>> GRPOTrainer(..., reward_funcs=[reward])   # doctest: +SKIP

Everything below is the package's public API; its modules are implementation. ``classifier``
(safety, helpfulness) loads torch only when such a reward is built.
"""

from .base import Reward, answer_groups, final_answer, gold_option
from .classifier import render, response_text, tokenize
from .code import canonical_output, functional_harness
from .format import r1_conditions, zero_conditions
from .registry import (
    GROUP,
    RewardConflictError,
    RewardNotFoundError,
    available_rewards,
    check_options,
    load_reward,
    reward_factory,
)
from .routing import ForTasks, for_tasks
from .schedule import ScheduledReward, resolve_step
from .text import completion_text, full_response, split_reasoning

__all__ = [
    # finding and loading rewards
    "GROUP", "RewardConflictError", "RewardNotFoundError", "available_rewards", "check_options", "load_reward",
    "reward_factory",
    # what a reward says about itself (evaluation, cons@k, rejection sampling)
    "Reward", "answer_groups", "final_answer", "gold_option",
    # wrappers: only on some rows, only in some steps
    "ForTasks", "for_tasks", "ScheduledReward", "resolve_step",
    # reading completions the way the rewards do
    "completion_text", "full_response", "split_reasoning", "r1_conditions", "zero_conditions",
    # the classifier rewards' input, for training their models
    "render", "response_text", "tokenize",
    # code: the harness and output canonicalisation the code reward uses
    "canonical_output", "functional_harness",
]
__version__ = "0.1.0"
