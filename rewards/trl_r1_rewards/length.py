r"""Rewards that shape the length of completions, the remedy for a policy that runs away to the
length limit: ``overlong`` (DAPO's soft overlong punishment) and ``cosine_length`` (Open-R1's
cosine-scaled correctness). Both wrap TRL's functions (:mod:`.upstream`) and count length in
tokens, from the ``completion_ids`` TRL passes every reward; ``cosine_length`` decides
correctness with a registry reward (``accuracy`` by default), not with TRL's grader.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from .base import TRL_KWARGS, Reward, gold_option
from .registry import check_options, load_reward, reward_factory
from .upstream import completion_ids, trl_reward


def _positive_int(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive number of tokens, got {value!r}")
    return value


class OverlongReward(Reward):
    r"""DAPO's soft overlong punishment: 0.0 up to ``max_completion_length - buffer`` tokens, then
    falling linearly to -1.0 at ``max_completion_length``; -1.0 beyond it. It punishes length
    near the limit and never rewards brevity. TRL's ``get_soft_overlong_punishment``.

    Counters logged through ``log_metric``: ``overlong/punished`` (completions longer than
    ``max_completion_length - buffer`` tokens), ``overlong/over_limit`` (longer than
    ``max_completion_length``: -1.0).

    Args:
        max_completion_length: the length limit, in tokens: the recipe's ``max_completion_length``
            (the grpo stage fills it in when the recipe does not set it, and refuses another value).
            Default: DAPO's 20,480.
        buffer: the width of the punished band below the limit, in tokens (DAPO's L_cache).
            ``None``: a fifth of ``max_completion_length``, DAPO's proportion (4,096 of 20,480),
            so that the band follows the limit when a run changes it.

    >>> reward = OverlongReward(max_completion_length=100, buffer=20)
    >>> reward(prompts=["q"] * 3, completions=["a", "b", "c"], completion_ids=[[1] * 80, [1] * 90, [1] * 100])
    [0.0, -0.5, -1.0]
    >>> OverlongReward().buffer
    4096
    """

    name = "overlong"
    counters = ("punished", "over_limit")

    def __init__(self, *, max_completion_length: int = 20480, buffer: int | None = None):
        super().__init__()
        self.max_completion_length = _positive_int("max_completion_length", max_completion_length)
        self.buffer = _positive_int("buffer", buffer) if buffer is not None else max(self.max_completion_length // 5, 1)
        if self.buffer > self.max_completion_length:
            raise ValueError(f"buffer ({buffer} tokens) is longer than max_completion_length ({max_completion_length}); "
                             "the punished band lies below the limit: choose a buffer of at most the limit")
        self._trl = trl_reward(self.name, "get_soft_overlong_punishment")(self.max_completion_length, self.buffer)

    def score(self, prompts: list, completions: list, columns: dict[str, Any], counts: Counter[str]) -> list[float | None]:
        ids = completion_ids(self.name, columns, len(completions))
        for length in map(len, ids):
            counts["punished"] += length > self.max_completion_length - self.buffer
            counts["over_limit"] += length > self.max_completion_length
        return [float(r) for r in self._trl(completion_ids=ids)]


class CosineLengthReward(Reward):
    r"""Open-R1's cosine-scaled reward: a correct completion earns from ``max_value_correct``
    (no tokens) down to ``min_value_correct`` (``max_length`` tokens or more), a wrong one from
    ``min_value_wrong`` (no tokens) up to ``max_value_wrong``, along a half cosine: short right
    answers are worth more, short wrong ones cost more. ``None`` where the grader gives ``None``
    (a gold it cannot grade). TRL's ``get_cosine_scaled_reward``, with correctness decided by
    ``grader`` (a registry reward; correct when it gives 1.0 or more), not by TRL's own grader.

    Counter logged through ``log_metric``: ``cosine_length/ungraded`` (the grader gave ``None``).

    Args:
        max_length: the length, in tokens, at which the schedule reaches its long end (Open-R1's
            default, 1,000); longer completions stay there.
        min_value_wrong, max_value_wrong, min_value_correct, max_value_correct: the four bounds
            (TRL's and Open-R1's defaults: -1.0, -0.5, 0.5, 1.0).
        solution_column: the dataset column holding the gold answers (given to the grader).
        grader: the registry reward that decides correctness.
        grader_options: its options (e.g. ``{answer_tags: true}``), checked at load.

    >>> reward = CosineLengthReward(max_length=100, grader_options={"num_workers": 0})
    >>> reward(prompts=["q"] * 2, completions=[r"\boxed{2}", r"\boxed{3}"], solution=["2", "2"],
    ...        completion_ids=[[1] * 50, [1] * 50])
    [0.75, -0.75]
    """

    name = "cosine_length"
    counters = ("ungraded",)
    gold_option = "solution_column"

    # TRL's function grades with its own accuracy_reward: it is given, per completion, an answer
    # that its grader finds right (or wrong) for the same gold, so that our verdict is the one used.
    _GOLD = "1"
    _ANSWERS = {True: r"\boxed{1}", False: r"\boxed{0}"}

    def __init__(
        self,
        *,
        max_length: int = 1000,
        min_value_wrong: float = -1.0,
        max_value_wrong: float = -0.5,
        min_value_correct: float = 0.5,
        max_value_correct: float = 1.0,
        solution_column: str = "solution",
        grader: str = "accuracy",
        grader_options: dict | None = None,
    ):
        super().__init__()
        self.max_length = _positive_int("max_length", max_length)
        bounds = dict(min_value_wrong=min_value_wrong, max_value_wrong=max_value_wrong,
                      min_value_correct=min_value_correct, max_value_correct=max_value_correct)
        for key, value in bounds.items():
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ValueError(f"{key} must be a number, got {value!r}")
            setattr(self, key, float(value))
        if not isinstance(solution_column, str) or not solution_column:
            raise ValueError(f"solution_column must be a non-empty column name, got {solution_column!r}")
        if grader_options is not None and not isinstance(grader_options, dict):
            raise ValueError(f"grader_options must be a mapping of the {grader!r} reward's options, got {grader_options!r}")
        self.solution_column = solution_column
        self.grader = grader
        self.grader_options = dict(grader_options or {})
        options = dict(self.grader_options)
        column_option = gold_option(reward_factory(grader))
        if column_option:
            options.setdefault(column_option, solution_column)
        try:
            check_options(grader, options)
        except TypeError as e:
            raise ValueError(f"grader_options: {e}") from None
        self._grader = load_reward(grader, **options)
        self._trl = trl_reward(self.name, "get_cosine_scaled_reward")(self.max_length, **bounds)

    def score(self, prompts: list, completions: list, columns: dict[str, Any], counts: Counter[str]) -> list[float | None]:
        ids = completion_ids(self.name, columns, len(completions))
        dataset_columns = {k: v for k, v in columns.items() if k not in TRL_KWARGS}
        verdicts = self._grader(prompts=prompts, completions=completions, **dataset_columns)
        graded = [i for i, v in enumerate(verdicts) if v is not None]
        counts["ungraded"] += len(completions) - len(graded)
        scaled = self._trl(completions=[[{"content": self._ANSWERS[verdicts[i] >= 1.0]}] for i in graded],
                           solution=[self._GOLD] * len(graded), completion_ids=[ids[i] for i in graded])
        rewards: list[float | None] = [None] * len(completions)
        for i, value in zip(graded, scaled, strict=True):
            rewards[i] = value
        return rewards
