"""Where programs run: the provider interface, and the result of one run.

A provider is anything with a ``run(program, language, tests)`` method: the local sandbox
(:class:`~.sandbox.LocalSandbox`, the default) or a client for a remote execution service
(E2B, Piston, a self-hosted judge...). A provider only *executes*; the reward compares
outputs, so every provider is scored the same way.

>>> class Echo:  # a toy provider: every program prints its input back
...     def run(self, program, language, tests):
...         return [RunResult(status="ok", stdout=t) for t in tests]
>>> isinstance(Echo(), Provider)
True
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, Protocol, runtime_checkable

if TYPE_CHECKING:
    from .languages import Language

Status = Literal["ok", "runtime_error", "timeout", "output_limit", "compile_error", "sandbox_error"]


@dataclass(frozen=True)
class RunResult:
    """One run of a program on one test input.

    ``status`` is ``ok`` when the program exited 0 within its limits (its output may still be
    wrong: comparing is the reward's job), else why it did not.
    """

    status: Status
    stdout: str = ""
    stderr: str = ""
    exit_code: int | None = None
    seconds: float = 0.0


class SandboxError(RuntimeError):
    """The execution machinery failed (not the program): the reward scores it 0.0 and counts it."""


@runtime_checkable
class Provider(Protocol):
    """Runs a program once per test input and reports each run."""

    def run(self, program: str, language: str | Language, tests: list[str]) -> list[RunResult]:
        """Run ``program`` (source text in ``language``) once per stdin text in ``tests``.

        Returns one :class:`RunResult` per test, in order. May be called from several threads
        at once. Raise :class:`SandboxError` (or return ``sandbox_error`` results) when the
        machinery fails; never raise because of what the program did.
        """
        ...
