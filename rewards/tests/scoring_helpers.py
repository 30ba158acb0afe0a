"""Stand-ins for ``accuracy.score_answer`` that misbehave on cue, for the worker-pool tests, and
what latex2sympy makes of a string, for the parsing tests (here and in tests/bench).

A module of its own with light imports: workers unpickle these functions by importing it,
inside an item's deadline.
"""

import os
import time
from pathlib import Path

from trl_r1_rewards import accuracy


def stuck_on_cue(task):
    """Sleeps (no CPU: only the wall-clock deadline ends it) on the answer ``stuck``."""
    if task[1] == ("stuck",):
        time.sleep(60)
    return accuracy.score_answer(task)


def hang_on_cue(task):
    """On an answer ``hang:PATH``, writes this worker's pid to PATH and waits to be killed."""
    answer = task[1][-1] if task[1] else ""
    if answer.startswith("hang:"):
        Path(answer[len("hang:"):]).write_text(str(os.getpid()))
        time.sleep(60)
    return accuracy.score_answer(task)


def burn_cpu(seconds: float) -> float:
    """Busy for ``seconds`` of CPU time (what a runaway sympy computation looks like)."""
    end = time.process_time() + seconds
    while time.process_time() < end:
        pass
    return seconds


def sleep_and_report(args: tuple[str, float]) -> int:
    """Writes this worker's pid to ``args[0]``, then sleeps ``args[1]`` seconds."""
    path, seconds = args
    Path(path).write_text(str(os.getpid()))
    time.sleep(seconds)
    return os.getpid()


def latex2sympy_outcome(latex: str) -> tuple[str, str]:
    """What latex2sympy makes of ``latex``: ``("ok", the expression)`` or ``("error", the message)``."""
    from latex2sympy2_extended.latex2sympy2 import latex2sympy

    try:
        return "ok", str(latex2sympy(latex))
    except Exception as error:  # noqa: BLE001
        return "error", str(error)
