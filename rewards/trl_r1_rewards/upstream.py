"""TRL's own reward functions, for the rewards that wrap them (``overlong``, ``cosine_length``,
``repetition``): imported when such a reward is built, never when the package is.

The package does not depend on TRL (its other rewards serve any trainer), so these three need the
``trl`` extra, ``pip install 'trl-r1-rewards[trl]'``; a project that trains with ``GRPOTrainer``
has it already. ``trl.rewards`` imports neither torch nor transformers. Written for TRL 1.16,
whose functions measure length and repetition on ``completion_ids``, the token ids
``GRPOTrainer`` passes every reward; an older TRL is refused by name at load time.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable
from importlib.metadata import PackageNotFoundError, version

TRL_EXTRA = "pip install 'trl-r1-rewards[trl]'"
MIN_TRL = (1, 16)


def _release(text: str) -> tuple[int, ...]:
    """The release numbers of a version string.

    >>> _release("1.16.0"), _release("1.17.0rc1"), _release("0.9.dev0")
    ((1, 16, 0), (1, 17, 0), (0, 9))
    """
    return tuple(int(m.group()) for m in map(re.compile(r"\d+").match, text.split(".")[:3]) if m)


def trl_reward(reward: str, function: str) -> Callable:
    """``trl.rewards.<function>``, for the reward named ``reward``; a missing or too old TRL is an
    ImportError that names the extra to install."""
    try:
        installed = version("trl")
    except PackageNotFoundError:
        raise ImportError(f"The {reward} reward wraps TRL's trl.rewards.{function}; TRL is not installed: "
                          f"{TRL_EXTRA}") from None
    if _release(installed) < MIN_TRL:
        raise ImportError(f"The {reward} reward wraps trl.rewards.{function} as TRL "
                          f"{'.'.join(map(str, MIN_TRL))} has it (lengths in completion_ids); TRL {installed} is "
                          f"installed: {TRL_EXTRA}")
    return getattr(importlib.import_module("trl.rewards"), function)


def completion_ids(reward: str, columns: dict, count: int) -> list:
    """The token ids of the batch's completions, which TRL passes as ``completion_ids``; a caller
    that passes none gets an error saying so (lengths are counted in tokens, not characters)."""
    ids = columns.get("completion_ids")
    if ids is None:
        raise KeyError(f"The {reward} reward counts tokens in `completion_ids`, which GRPOTrainer passes every "
                       f"reward; called outside a trainer, pass completion_ids=[[token ids], ...] (one list per "
                       f"completion, {count} here).")
    return [list(i) for i in ids]
