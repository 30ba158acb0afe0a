"""The launch's size, and what a recipe keeps fixed when it changes.

A recipe states what one optimizer step trains on: ``questions_per_step`` (GRPO: each question
makes ``num_generations`` completions) or ``sequences_per_step`` (SFT, reward models). The
gradient accumulation that gives it is derived from the launch's process count, so that adding
GPUs or nodes adds speed, not a different experiment; a size that cannot give it exactly is
refused with the sizes that can.

The process count is the launch's (``WORLD_SIZE``, which ``accelerate launch`` sets in every
process), or, for ``check`` and ``plan`` on a machine that is not the cluster, the count they
were given (:func:`at_launch_size`).
"""

from __future__ import annotations

import contextlib
import contextvars
import os
from collections.abc import Iterator
from dataclasses import dataclass, field

_PROCESSES: contextvars.ContextVar[int | None] = contextvars.ContextVar("trl_r1_launch_processes", default=None)


def launch_processes() -> int:
    """Processes of the launch a configuration is built for (see the module docstring)."""
    given = _PROCESSES.get()
    if given is not None:
        return given
    return int(os.environ.get("WORLD_SIZE", "1"))


def launch_size_known() -> bool:
    """Whether a launch's size is known here (a launch, or :func:`at_launch_size`)."""
    return _PROCESSES.get() is not None or "WORLD_SIZE" in os.environ


@contextlib.contextmanager
def at_launch_size(processes: int | None) -> Iterator[None]:
    """Build configurations as if launched on ``processes`` processes (None: this launch's)."""
    if processes is not None and processes < 1:
        raise ValueError(f"a launch has at least one process, got {processes}")
    token = _PROCESSES.set(processes)
    try:
        yield
    finally:
        _PROCESSES.reset(token)


def accumulation_for(total: int, per_device: int, processes: int, what: str, field_name: str) -> int:
    """Gradient accumulation steps that make ``total`` rows per step from ``per_device`` rows on
    each of ``processes`` processes; a ValueError naming the sizes that work otherwise.

    >>> accumulation_for(512, 1, 8, "completions", "questions_per_step"), accumulation_for(512, 1, 16, "", "")
    (64, 32)
    """
    per_launch = per_device * processes
    if total % per_launch:
        fits = [p for p in range(1, total + 1) if total % (per_device * p) == 0]
        if not fits:
            raise ValueError(f"{field_name}: {total} {what} per step are fewer than one micro-batch of "
                             f"per_device_train_batch_size {per_device}: lower it, or train more per step")
        raise ValueError(
            f"{field_name}: {total} {what} per step cannot be split over {processes} processes x "
            f"per_device_train_batch_size {per_device} (= {per_launch} a micro-step); launch on one of "
            f"{', '.join(map(str, fits[:12]))} processes, or change per_device_train_batch_size")
    return total // per_launch


@dataclass
class StepSize:
    """Mixin for SFT and reward-model configurations: ``sequences_per_step`` (rows per optimizer
    step, every process together) derives ``gradient_accumulation_steps`` from the launch's size."""

    sequences_per_step: int | None = field(
        default=None,
        metadata={"help": "Sequences per optimizer step, all processes together: gradient_accumulation_steps is "
                          "derived from the launch's process count (more GPUs: same experiment, faster)."},
    )

    def __post_init__(self):
        derive_accumulation(self, self.sequences_per_step, "sequences", "sequences_per_step")
        super().__post_init__()


def derive_accumulation(config, total: int | None, what: str, field_name: str) -> None:
    """Set ``config.gradient_accumulation_steps`` for ``total`` rows per step at the launch's size
    (nothing when ``total`` is None); ``config.launch_processes`` records the size it was built for."""
    if total is None:
        return
    if total < 1:
        raise ValueError(f"{field_name}: must be at least 1, got {total}")
    if config.gradient_accumulation_steps != 1:
        raise ValueError(f"{field_name} derives gradient_accumulation_steps from the launch's size: remove "
                         f"gradient_accumulation_steps ({config.gradient_accumulation_steps}) from the recipe")
    processes = launch_processes()
    config.gradient_accumulation_steps = accumulation_for(total, config.per_device_train_batch_size, processes,
                                                          what, field_name)
    config.launch_processes = processes
