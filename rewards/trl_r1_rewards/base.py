"""What every reward shares: TRL's call protocol, per-batch counters, and how a reward
describes itself to evaluation, cons@k voting and rejection sampling.

A subclass names itself, lists its counters and implements :meth:`Reward.score`; the base turns
a TRL call ``reward(prompts, completions, **columns)`` into that and logs each counter through
TRL's ``log_metric`` as ``<name>/<counter>`` on every call, zeros included, so that TRL's
per-step average is a true mean per batch.

The self-description is three optional attributes, read through :func:`gold_option`,
:func:`final_answer` and :func:`answer_groups`, so a third-party reward that does not subclass
:class:`Reward` can take part by defining the same names.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any, ClassVar

# What TRL passes every reward besides the dataset's columns.
TRL_KWARGS = frozenset({"trainer_state", "log_extra", "log_metric", "completion_ids", "environments"})


class Reward:
    """Base class of a TRL reward function with named counters."""

    name: ClassVar[str]
    counters: ClassVar[tuple[str, ...]] = ()
    # The factory option naming the dataset column that holds the gold answer (None: no gold).
    gold_option: ClassVar[str | None] = None

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

    def golds(self, columns: dict[str, Any], what: str) -> list:
        """The gold answers (``what``, for the error) from the column the ``gold_option`` option
        names; a missing column is a named error listing the dataset's columns."""
        option = self.gold_option
        column = getattr(self, option)
        if column not in columns:
            present = sorted(k for k in columns if k not in TRL_KWARGS)
            raise KeyError(f"The {self.name} reward reads {what} from the {column!r} column, which the dataset does "
                           f"not have (columns: {present}); set the {option} option.")
        return columns[column]

    def final_answer(self, completion: Any) -> str | None:
        """The final answer of ``completion`` as this reward reads it; ``None`` when it has none
        (or the reward has no notion of one). Rewards whose answers can be voted on (cons@k)
        also define ``group_answers(questions) -> list[list[int | None]]``: one group id per
        answer, equal for answers that count as the same."""
        return None

    def __repr__(self) -> str:
        options = ", ".join(f"{k}={v!r}" for k, v in vars(self).items() if not k.startswith("_"))
        return f"{type(self).__name__}({options})"


def gold_option(factory: Callable) -> str | None:
    """The option of a reward factory that names its gold-answer column (``None``: it reads none).

    >>> from trl_r1_rewards import reward_factory
    >>> gold_option(reward_factory("accuracy")), gold_option(reward_factory("format"))
    ('solution_column', None)
    """
    return getattr(factory, "gold_option", None)


def final_answer(reward: Callable, completion: Any) -> str | None:
    """The final answer ``reward`` reads in ``completion`` (``None`` where it defines none)."""
    read = getattr(reward, "final_answer", None)
    return read(completion) if callable(read) else None


def answer_groups(reward: Callable) -> Callable[[Sequence[Sequence[str | None]]], list[list[int | None]]] | None:
    """``reward.group_answers`` when its final answers can be voted on (cons@k), else ``None``."""
    group = getattr(reward, "group_answers", None)
    return group if callable(group) else None


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
