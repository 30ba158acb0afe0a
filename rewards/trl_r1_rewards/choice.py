r"""``choice``: is the chosen letter of a multiple-choice question the right one? (GPQA-style.)

The answer is read from the answer region (after ``</think>``, or inside ``<answer>`` with
``answer_tags``): the last ``\boxed{..}`` holding a letter (``\boxed{C}``, ``\boxed{(C)}``,
``\boxed{\text{C}}``), else the last "answer is C" / "answer: (C)", else a region that is just
the letter. The gold is the right letter in the ``solution`` column.
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

from .base import Reward
from .text import answer_region, completion_text, last_boxed
from .voting import identical_groups

_BOXED_LETTER = re.compile(r"^\s*(?:\\text\{|\\mathrm\{|\\textbf\{)?\s*\(?\s*([A-Za-z])\s*\)?\s*\}?\s*$")
# "answer is C", "Answer: (c)", "answer is **B**"; a bare letter must be upper case ("the
# answer is a number" chooses nothing).
_STATED = re.compile(r"(?i:answer)\s*(?:is|:)?\s*(?:(?i:option)\s*)?(?:\(\s*([A-Za-z])\s*\)|\**([A-Z])\b)")


def extract_letter(region: str, letters: str) -> str | None:
    r"""The letter a model chose, or ``None``.

    >>> extract_letter(r"so the answer is \boxed{(c)}.", "ABCD"), extract_letter("The answer is B.", "ABCD")
    ('C', 'B')
    >>> extract_letter("I think it is E", "ABCD") is None
    True
    """
    boxed = last_boxed(region)
    if boxed is not None:
        match = _BOXED_LETTER.match(boxed)
        letter = match.group(1).upper() if match else None
        return letter if letter and letter in letters else None
    stated = [(m.group(1) or m.group(2)).upper() for m in _STATED.finditer(region[-2000:])]
    stated = [s for s in stated if s in letters]
    if stated:
        return stated[-1]
    bare = _BOXED_LETTER.match(region.strip()[:20]) if len(region.strip()) <= 20 else None
    letter = bare.group(1).upper() if bare else None
    return letter if letter and letter in letters else None


class ChoiceReward(Reward):
    r"""1.0 when the chosen letter is the gold letter, else 0.0; ``None`` when the gold is not
    one of ``letters``. Counter: ``choice/no_choice`` (no letter could be read).

    Args:
        solution_column: the dataset column holding the right letter.
        letters: the letters a question may offer.
        answer_tags: read the answer inside the last ``<answer>...</answer>`` block.

    >>> reward = ChoiceReward()
    >>> reward(prompts=["q"] * 3, completions=[r"<think>..</think> \boxed{B}", "The answer is (A)", "<think>B"],
    ...        solution=["B", "B", "B"])
    [1.0, 0.0, 0.0]
    """

    name = "choice"
    counters = ("no_choice",)
    gold_option = "solution_column"

    def __init__(self, *, solution_column: str = "solution", letters: str = "ABCD", answer_tags: bool = False):
        super().__init__()
        if not isinstance(letters, str) or not letters.isalpha() or letters.upper() != letters or len(set(letters)) != len(letters):
            raise ValueError(f"letters must be distinct upper-case letters such as 'ABCD', got {letters!r}")
        self.solution_column = solution_column
        self.letters = letters
        self.answer_tags = bool(answer_tags)

    def final_answer(self, completion: Any) -> str | None:
        r"""The letter a completion chose, as this reward reads it (what cons@k votes on).

        >>> ChoiceReward().final_answer(r"<think>A or B?</think> \boxed{b}"), ChoiceReward().final_answer("<think>A")
        ('B', None)
        """
        return self.chosen_letter(completion)

    def group_answers(self, questions: list[list[str | None]]) -> list[list[int | None]]:
        """cons@k groups: the same letter, the same group."""
        return [identical_groups(answers) for answers in questions]

    def chosen_letter(self, completion: Any) -> str | None:
        r"""The letter a completion chose, as this reward reads it (also what evaluation votes on).

        >>> ChoiceReward().chosen_letter(r"<think>A or B?</think> \boxed{b}"), ChoiceReward().chosen_letter("<think>A")
        ('B', None)
        """
        region = answer_region(completion_text(completion), answer_tags=self.answer_tags)
        return extract_letter(region, self.letters) if region is not None else None

    def score(self, prompts: list, completions: list, columns: dict[str, Any], counts: Counter[str]) -> list[float | None]:
        rewards: list[float | None] = []
        for completion, gold in zip(completions, self.golds(columns, "the right letter"), strict=True):
            gold = str(gold).strip().strip("()").upper() if gold is not None else ""
            if gold not in self.letters or len(gold) != 1:
                rewards.append(None)
                continue
            letter = self.chosen_letter(completion)
            if letter is None:
                counts["no_choice"] += 1
            rewards.append(float(letter == gold))
        return rewards
