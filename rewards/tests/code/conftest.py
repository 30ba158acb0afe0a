"""Fixtures for the code reward tests: a fast-limit reward and a look at the host afterwards."""

from __future__ import annotations

import os
import textwrap

import pytest
from trl_r1_rewards.code import CodeReward
from trl_r1_rewards.code.sandbox import sandbox_uids


def sandbox_processes() -> list[int]:
    """PIDs of host processes (zombies included) running as one of our sandbox uids: there must
    be none between runs."""
    uids = sandbox_uids()
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/status") as f:
                uid_line = next(line for line in f if line.startswith("Uid:"))
        except (OSError, StopIteration):
            continue
        if int(uid_line.split()[1]) in uids:
            found.append(int(entry))
    return found


@pytest.fixture(scope="session")
def reward() -> CodeReward:
    """The code reward with short limits, shared by the tests (its worker pool is reused)."""
    return CodeReward(timeout=1.0, memory_mb=256, max_output_bytes=64 * 1024)


@pytest.fixture
def score(reward):
    """``score(program, [(stdin, expected), ...])`` -> the reward of one completion; checks
    afterwards that nothing the program started is still running on the host."""

    def _score(program: str, tests: list[tuple[str, str]], **kwargs) -> float | None:
        completion = f"<think>easy</think>\n```python\n{textwrap.dedent(program)}\n```"
        cases = [{"input": i, "output": o} for i, o in tests]
        (value,) = reward(prompts=["q"], completions=[completion], test_cases=[cases], **kwargs)
        assert sandbox_processes() == [], "a sandboxed process outlived its run"
        return value

    return _score

