r"""Copied questions: an expression copied from the question is not an answer to it, although
math-verify gives it its value: asked "What is 30 - 5?", a policy learns to answer "30 - 5"
(scored as 25). The ``accuracy`` reward's ``reject_restated`` option uses :func:`restated`.
"""

from __future__ import annotations

import re

from .extraction import UNBOXED_TAIL_CHARS
from .fast_path import plain_number

_TOKEN = re.compile(r"\\[A-Za-z]+|[0-9]+(?:\.[0-9]+)?|[A-Za-z]+|\S")
_OPERATOR = re.compile(r"[-+*/^!]|\\(?:d?t?frac|sqrt|times|cdot|div|binom|sum|prod|log|ln|exp|sin|cos|tan)(?![A-Za-z])")
# Where an unboxed answer's mathematics is: its last run of digits, operators and LaTeX commands.
_MATH_RUN = re.compile(r"(?:\\[A-Za-z]+|[0-9{}()\[\]^*/+\-.,=!\s])+")


def restated(answer: str, boxed: bool, prompt: str) -> bool:
    r"""Whether an answer only restates an expression of the prompt: what follows its last ``=``
    (the last run of mathematics for an unboxed answer) holds an operator, is not a plain number,
    and appears in the prompt token for token.

    >>> restated("30 - 5", False, "What is 30 - 5?"), restated("It is 30-5.", False, "What is 30 - 5?")
    (True, True)
    >>> restated("30 - 5 = 25", False, "What is 30 - 5?"), restated(r"2^{10}", True, r"Compute $2^{10}$.")
    (False, True)
    >>> restated("0 - 5", False, "What is 30 - 5?"), restated("-5", True, "What is -5 + 0?")
    (False, False)
    """
    if not boxed:
        runs = [run for run in _MATH_RUN.findall(answer[-UNBOXED_TAIL_CHARS:]) if any(c.isdigit() for c in run)]
        if not runs:
            return False
        answer = runs[-1]
    candidate = answer.rsplit("=", 1)[-1].strip().rstrip(".,").strip()
    if not candidate or plain_number(candidate) is not None or not _OPERATOR.search(candidate.lstrip("+-")):
        return False
    needle, haystack = _TOKEN.findall(candidate), _TOKEN.findall(prompt)
    return any(haystack[i:i + len(needle)] == needle for i in range(len(haystack) - len(needle) + 1))
