r"""The ``accuracy`` reward's verdicts that need no math-verify, settled in the calling process
before any worker is asked: pairs of plain decimal numbers (most golds of MATH, AIME and GSM8K),
a missing answer to a number, and answers too costly to parse (:func:`fast_score`).
"""

from __future__ import annotations

import re
from fractions import Fraction

from .answers import MAX_NESTING, nesting_depth, too_costly
from .extraction import gold_expression, read_gold

# A sign, digits, at most one decimal point with digits after it. Longer numbers go to
# math-verify: int() refuses more than 4300 digits, and nobody's gold is that long.
_PLAIN_NUMBER = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]+)?|\.[0-9]+)")  # ASCII digits only
_MAX_NUMBER_CHARS = 1000
# math-verify rounds floats to 6 decimals and evaluates to 15 digits: unequal numbers closer
# than this (relative to their size, or to 1) may still be "equal" to it, so it decides those.
_CLOSE = Fraction(1, 10**5)


def plain_number(text: str) -> Fraction | None:
    """``text`` as an exact number when it is a plain decimal (``$..$`` around it allowed), else ``None``.

    >>> plain_number(" -1.50 "), plain_number("$7$"), plain_number("1,000"), plain_number(r"\\frac12")
    (Fraction(-3, 2), Fraction(7, 1), None, None)
    """
    text = text.strip()
    if text.startswith("$") and text.endswith("$") and text.count("$") == 2:
        text = text[1:-1].strip()
    if len(text) > _MAX_NUMBER_CHARS or not _PLAIN_NUMBER.fullmatch(text):
        return None
    return Fraction(text)


def gold_number(gold: str) -> Fraction | None:
    r"""The gold as a plain number (``25``, ``$-1.5$``, ``\boxed{7}``), else ``None``."""
    expression = gold_expression(gold)
    return plain_number(expression if expression is not None else gold)


def fast_score(task: tuple[str, tuple[str, ...] | None, bool]) -> tuple[float, str | None] | None:
    """:func:`~trl_r1_rewards.accuracy.score_answer`'s verdict when it is certain without
    math-verify, else ``None``.

    Decides pairs of plain decimal numbers (and a missing answer to a plain-number gold), and
    pathological answers (:func:`~trl_r1_rewards.answers.too_costly`): 0.0, counted.

    >>> fast_score(("42", ("42.0",), True)), fast_score(("-7", ("7",), True)), fast_score(("1,000", ("1000",), True))
    ((1.0, None), (0.0, None), None)
    >>> fast_score((r"\\frac12", ("{" * 50 + "1" + "}" * 50,), True))
    (0.0, 'pathological')
    """
    gold, answers, boxed = task
    if answers is not None and _pathological(answers, boxed):
        return 0.0, "pathological"
    expected = gold_number(gold)
    if expected is None or read_gold(gold)[0] != "math":  # several boxes of numbers: parts
        return None
    if answers is None:
        return 0.0, "missing_answers"
    answer = answers[-1]
    predicted = plain_number(answer)
    if predicted is None:
        return None
    if predicted == expected:
        return 1.0, None
    if "." not in gold and "." not in answer:  # integers: sympy compares them exactly too
        return 0.0, None
    if abs(predicted - expected) >= _CLOSE * max(1, abs(predicted), abs(expected)):
        return 0.0, None
    return None


def _pathological(answers: tuple[str, ...], boxed: bool) -> bool:
    if boxed:
        return any(too_costly(box) for box in answers)
    return nesting_depth(answers[-1]) > MAX_NESTING  # free text: its length is already capped
