"""Deciding whether a program's stdout matches the expected output."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

CompareMode = Literal["whitespace", "exact"]


def _lines(text: str) -> list[str]:
    """Lines without trailing whitespace, trailing empty lines dropped."""
    lines = [line.rstrip() for line in text.splitlines()]
    while lines and not lines[-1]:
        lines.pop()
    return lines


def _token_match(actual: str, expected: str, tolerance: float) -> bool:
    if actual == expected:
        return True
    try:
        a, e = float(actual), float(expected)
    except ValueError:
        return False
    return math.isclose(a, e, rel_tol=tolerance, abs_tol=tolerance) or (math.isnan(a) and math.isnan(e))


@dataclass(frozen=True)
class OutputComparator:
    """Compares outputs: ``whitespace`` (default) ignores trailing whitespace on each line and
    trailing blank lines; ``exact`` compares bytes. With ``float_tolerance``, lines are split
    into whitespace-separated tokens and numbers within the tolerance (absolute or relative)
    match.

    >>> OutputComparator()("1 2  \\n3\\n\\n", "1 2\\n3")
    True
    >>> OutputComparator(mode="exact")("3\\n", "3")
    False
    >>> OutputComparator(float_tolerance=1e-6)("0.3333333", "0.33333333")
    True
    """

    mode: CompareMode = "whitespace"
    float_tolerance: float | None = None

    def __post_init__(self):
        if self.mode not in ("whitespace", "exact"):
            raise ValueError(f"compare must be 'whitespace' or 'exact', got {self.mode!r}")
        if self.float_tolerance is not None:
            if self.mode == "exact":
                raise ValueError("float_tolerance compares token by token; it cannot be combined with compare='exact'")
            if not self.float_tolerance >= 0:
                raise ValueError(f"float_tolerance must be >= 0, got {self.float_tolerance!r}")

    def __call__(self, actual: str, expected: str) -> bool:
        if self.mode == "exact":
            return actual == expected
        actual_lines, expected_lines = _lines(actual), _lines(expected)
        if self.float_tolerance is None:
            return actual_lines == expected_lines
        if len(actual_lines) != len(expected_lines):
            return False
        for a_line, e_line in zip(actual_lines, expected_lines):
            a_tokens, e_tokens = a_line.split(), e_line.split()
            if len(a_tokens) != len(e_tokens):
                return False
            if not all(_token_match(a, e, self.float_tolerance) for a, e in zip(a_tokens, e_tokens)):
                return False
        return True
