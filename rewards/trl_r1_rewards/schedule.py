"""A reward that counts only from / until a training step (R1 switched its preference rewards
on for the last 400 steps). Outside its window it returns ``None``, which TRL leaves out of the
summed reward and of that step's mean."""

from __future__ import annotations

from collections.abc import Callable


def resolve_step(step: int | None, max_steps: int) -> int | None:
    """A negative step counts back from the end of training.

    >>> resolve_step(-400, 1000), resolve_step(10, 1000), resolve_step(None, 1000)
    (600, 10, None)
    """
    if step is None or step >= 0:
        return step
    return max(max_steps + step, 0)


class ScheduledReward:
    """Wraps a TRL reward so it applies only for ``start_step <= global_step < end_step``.

    >>> r = ScheduledReward(lambda prompts, completions, **kw: [1.0] * len(completions), start_step=-2)
    >>> from types import SimpleNamespace as State
    >>> r(["p"], ["c"], trainer_state=State(global_step=7, max_steps=10))
    [None]
    >>> r(["p"], ["c"], trainer_state=State(global_step=8, max_steps=10))
    [1.0]
    """

    def __init__(self, reward: Callable, start_step: int | None = None, end_step: int | None = None):
        self.reward = reward
        self.start_step = start_step
        self.end_step = end_step
        self.__name__ = getattr(reward, "__name__", type(reward).__name__)

    def active(self, global_step: int, max_steps: int) -> bool:
        start = resolve_step(self.start_step, max_steps)
        end = resolve_step(self.end_step, max_steps)
        return (start is None or global_step >= start) and (end is None or global_step < end)

    def __call__(self, prompts, completions, trainer_state=None, **kwargs):
        if trainer_state is not None and not self.active(trainer_state.global_step, trainer_state.max_steps):
            return [None] * len(completions)
        return self.reward(prompts=prompts, completions=completions, trainer_state=trainer_state, **kwargs)
