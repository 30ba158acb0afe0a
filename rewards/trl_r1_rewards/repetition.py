r"""``repetition``: a penalty for repeated n-grams, against degenerate loops (a policy that
repeats itself until the length limit). TRL's ``get_repetition_penalty_reward`` (Open-R1's, on
token ids since TRL 1.16): the share of the completion's token n-grams that repeat an earlier
one, times ``max_penalty``.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from .base import Reward
from .upstream import completion_ids, trl_reward


class RepetitionReward(Reward):
    r"""``max_penalty`` x (1 - distinct n-grams / n-grams), over the completion's token ids: 0.0
    without a repeated n-gram, ``max_penalty`` in the limit of one n-gram repeated throughout;
    0.0 for completions shorter than ``ngram_size`` tokens.

    Counter logged through ``log_metric``: ``repetition/looping`` (more than half the n-grams
    repeat: a loop rather than a phrase used twice).

    Args:
        ngram_size: n, in tokens (TRL's default, 3).
        max_penalty: the most negative reward, at most 0.0 (TRL's default, -1.0).

    >>> reward = RepetitionReward(ngram_size=2)
    >>> reward(prompts=["q"] * 2, completions=["a", "b"], completion_ids=[[1, 2, 3, 4], [5, 5, 5, 5, 5]])
    [0.0, -0.75]
    """

    name = "repetition"
    counters = ("looping",)

    def __init__(self, *, ngram_size: int = 3, max_penalty: float = -1.0):
        super().__init__()
        if isinstance(ngram_size, bool) or not isinstance(ngram_size, int) or ngram_size < 1:
            raise ValueError(f"ngram_size must be a positive number of tokens, got {ngram_size!r}")
        if isinstance(max_penalty, bool) or not isinstance(max_penalty, (int, float)) or max_penalty > 0:
            raise ValueError(f"max_penalty must be a number <= 0 (a penalty), got {max_penalty!r}")
        self.ngram_size = ngram_size
        self.max_penalty = float(max_penalty)
        self._trl = trl_reward(self.name, "get_repetition_penalty_reward")(ngram_size, self.max_penalty)

    def score(self, prompts: list, completions: list, columns: dict[str, Any], counts: Counter[str]) -> list[float | None]:
        rewards = [float(r) for r in self._trl(completion_ids=completion_ids(self.name, columns, len(completions)))]
        if self.max_penalty < 0:
            counts["looping"] += sum(r < self.max_penalty / 2 for r in rewards)
        return rewards
