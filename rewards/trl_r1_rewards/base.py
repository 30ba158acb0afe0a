"""What every reward here shares: TRL's call protocol and per-batch counters.

A subclass names itself, lists its counters and implements :meth:`Reward.score`; the base
turns a TRL call ``reward(prompts, completions, **columns)`` into that, and reports each
counter through TRL's ``log_metric`` (when given) as ``<name>/<counter>``: the number of
completions of the batch it applies to. Every counter is logged on every call, zeros
included, so that TRL's per-step average is a true mean per batch.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any, ClassVar


class Reward:
    """Base class of a TRL reward function with named counters."""

    name: ClassVar[str]
    counters: ClassVar[tuple[str, ...]] = ()

    def __init__(self) -> None:
        self.__name__ = self.name  # TRL logs rewards/<__name__>/mean; load_reward may rename

    def __call__(self, prompts: list, completions: list, **kwargs: Any) -> list[float | None]:
        check_batch(self.__name__, prompts, completions, kwargs)
        counts: Counter[str] = Counter()
        rewards = self.score(list(prompts), list(completions), kwargs, counts)
        log_metric = kwargs.get("log_metric")
        if callable(log_metric):
            for counter in self.counters:
                log_metric(f"{self.__name__}/{counter}", float(counts[counter]))
        return rewards

    def score(self, prompts: list, completions: list, columns: dict[str, Any], counts: Counter[str]) -> list[float | None]:
        """One reward per completion; increment ``counts[c]`` for the counters ``c`` that apply."""
        raise NotImplementedError

    def __repr__(self) -> str:
        options = ", ".join(f"{k}={v!r}" for k, v in vars(self).items() if not k.startswith("_"))
        return f"{type(self).__name__}({options})"


def check_batch(name: str, prompts: Sequence, completions: Sequence, columns: dict[str, Any]) -> None:
    """A caller error, named: the prompts and every list-valued column need one entry per completion.

    >>> check_batch("accuracy", ["q"] * 2, ["a", "b"], {"solution": ["1"], "trainer_state": None})
    Traceback (most recent call last):
    ...
    ValueError: Reward 'accuracy' got 2 completions but 1 value in column 'solution'; every column (and the prompts) needs one value per completion, in order.
    """
    n = len(completions)
    wrong = [(f"column {key!r}", len(value)) for key, value in columns.items() if isinstance(value, (list, tuple)) and len(value) != n]
    if len(prompts) != n:
        wrong.insert(0, ("prompts", len(prompts)))
    if wrong:
        listed = ", ".join(f"{size} value{'s' * (size != 1)} in {what}" if what != "prompts" else f"{size} prompts"
                           for what, size in wrong)
        raise ValueError(f"Reward {name!r} got {n} completions but {listed}; every column (and the prompts) needs one "
                         "value per completion, in order.")
