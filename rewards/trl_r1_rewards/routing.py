"""Task routing: a reward that applies only to the rows of some tasks (R1's stage 4 mixes
reasoning prompts, scored by rules, with general ones, scored by reward models). Other rows get
``None`` ("does not apply" to TRL), and the wrapped reward is called on its own rows only, so a
model-based reward never runs on a row it does not apply to.

>>> from trl_r1_rewards.routing import for_tasks
>>> def length(prompts, completions, **kwargs):
...     return [float(len(c)) for c in completions]
>>> reward = for_tasks(length, ["general"])
>>> reward(["q1", "q2", "q3"], ["a", "bb", "ccc"], task=["math", "general", "general"])
[None, 2.0, 3.0]
>>> reward.__name__
'length'
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from .base import check_batch


class ForTasks:
    """A TRL reward applied to the rows whose ``column`` value is one of ``tasks``; ``None`` elsewhere.

    Args:
        reward: any TRL reward callable ``reward(prompts, completions, **columns)``.
        tasks: the task names (values of ``column``) it applies to.
        column: the dataset column naming each row's task.
    """

    def __init__(self, reward: Callable, tasks: str | Sequence[str], column: str = "task"):
        if isinstance(tasks, str):
            tasks = [tasks]
        tasks = tuple(tasks or ())
        if not tasks or not all(isinstance(t, str) and t for t in tasks):
            raise ValueError(f"tasks must be a non-empty list of task names, got {tasks!r}")
        if not isinstance(column, str) or not column:
            raise ValueError(f"column must be a column name, got {column!r}")
        self.reward = reward
        self.tasks = tasks
        self.column = column
        self.__name__ = getattr(reward, "__name__", type(reward).__name__)

    def rows(self, values: Sequence[Any]) -> list[int]:
        """Indices of the rows the reward applies to."""
        return [i for i, value in enumerate(values) if isinstance(value, str) and value in self.tasks]

    def __call__(self, prompts: list, completions: list, **kwargs: Any) -> list[float | None]:
        if self.column not in kwargs:
            raise KeyError(
                f"Reward {self.__name__!r} applies to tasks {list(self.tasks)}, read from the {self.column!r} column, "
                "which the dataset does not have."
            )
        check_batch(self.__name__, prompts, completions, kwargs)
        n = len(completions)
        rows = self.rows(kwargs[self.column])
        if len(rows) == n:
            return self.reward(prompts=prompts, completions=completions, **kwargs)
        results: list[float | None] = [None] * n
        if not rows:
            return results

        def pick(values):
            return [values[i] for i in rows]

        def expand(values):  # rewards log one value per row they were given; TRL wants one per completion
            full = [None] * n
            for i, value in zip(rows, values, strict=True):
                full[i] = value
            return full

        subset = {k: pick(v) if isinstance(v, (list, tuple)) and len(v) == n else v for k, v in kwargs.items()}
        log_extra = kwargs.get("log_extra")
        if callable(log_extra):
            subset["log_extra"] = lambda column, values: log_extra(column, expand(values))
        scored = self.reward(prompts=pick(prompts), completions=pick(completions), **subset)
        return expand(scored)

    def __repr__(self) -> str:
        return f"ForTasks({self.reward!r}, tasks={list(self.tasks)!r}, column={self.column!r})"


def for_tasks(reward: Callable, tasks: str | Sequence[str], column: str = "task") -> ForTasks:
    """``reward`` restricted to the rows whose ``column`` is one of ``tasks`` (see :class:`ForTasks`)."""
    return ForTasks(reward, tasks, column)
