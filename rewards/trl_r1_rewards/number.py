r"""``number``: is the last number of the answer the gold number? A strict scorer for numeric
tasks that no output format can satisfy on its own.

The answer region is what follows the last ``</think>``, or the whole completion when there is
no think block (an unclosed ``<think>`` has no answer). Its last number (``-12``, ``3.5``,
``1,000``; inside ``\boxed{}`` or in prose alike) is compared with the gold number as a
fraction, so ``77`` and ``77.0`` agree. Where ``accuracy`` checks a boxed expression with
math-verify, this checks only a number: cheap, exact, and blind to the format.
"""

from __future__ import annotations

import re
from collections import Counter
from fractions import Fraction
from typing import Any

from .base import Reward
from .text import completion_text, split_reasoning
from .voting import identical_groups

# A number as written: optional minus, digits with optional thousands commas, optional decimals.
_NUMBER = re.compile(r"-?\d{1,3}(?:,\d{3})+(?:\.\d+)?|-?\d+(?:\.\d+)?")
_MAX_CHARS = 100  # longer digit strings are not answers to compare


def last_number(text: str) -> str | None:
    """The last number written in ``text`` (commas dropped), or ``None``.

    >>> last_number(r"so 2 + 3 = 5, the answer is \\boxed{5}."), last_number("It is -1,250.5 now")
    ('5', '-1250.5')
    >>> last_number("no digits") is None
    True
    """
    matches = _NUMBER.findall(text[-10_000:])
    return matches[-1].replace(",", "") if matches else None


def as_fraction(text: object) -> Fraction | None:
    """``text`` as an exact number, or ``None`` when it is not one.

    >>> as_fraction(" 77.0 "), as_fraction("seven")
    (Fraction(77, 1), None)
    """
    text = str(text).strip().replace(",", "") if text is not None else ""
    if not text or len(text) > _MAX_CHARS or not re.fullmatch(r"-?\d+(?:\.\d+)?", text):
        return None
    return Fraction(text)


class NumberReward(Reward):
    r"""1.0 when the last number of the answer region equals the gold number, else 0.0; ``None``
    when the gold is not a number. Counter: ``number/no_number`` (no number in the answer).

    Args:
        solution_column: the dataset column holding the gold number.

    >>> reward = NumberReward()
    >>> reward(prompts=["q"] * 4, completions=[r"<think>2+3=6?</think> \boxed{5}", "It is 5.", "<think>5", "5 or 6"],
    ...        solution=["5"] * 4)
    [1.0, 1.0, 0.0, 0.0]
    """

    name = "number"
    counters = ("no_number",)
    gold_option = "solution_column"

    def __init__(self, *, solution_column: str = "solution"):
        super().__init__()
        self.solution_column = solution_column

    def final_answer(self, completion: Any) -> str | None:
        r"""The last number of the answer region (what cons@k votes on).

        >>> NumberReward().final_answer("<think>3 + 4 = 7</think> so 7."), NumberReward().final_answer("<think>7")
        ('7', None)
        """
        _, answer = split_reasoning(completion_text(completion))
        return last_number(answer) if answer is not None else None

    def group_answers(self, questions: list[list[str | None]]) -> list[list[int | None]]:
        """cons@k groups: the same number, the same group (``7`` and ``7.0`` included)."""
        return [identical_groups([str(f) if (f := as_fraction(a)) is not None else None for a in answers])
                for answers in questions]

    def score(self, prompts: list, completions: list, columns: dict[str, Any], counts: Counter[str]) -> list[float | None]:
        rewards: list[float | None] = []
        for completion, gold in zip(completions, self.golds(columns, "the gold number"), strict=True):
            expected = as_fraction(gold)
            if expected is None:
                rewards.append(None)
                continue
            answer = self.final_answer(completion)
            if answer is None:
                counts["no_number"] += 1
            rewards.append(float(answer is not None and as_fraction(answer) == expected))
        return rewards
