"""``format``: does the completion follow R1's output structure? (R1's format reward.)

Two templates, each checked as four structural conditions:

``zero`` (R1-Zero: ``<think> reasoning </think> <answer> answer </answer>``)
  1. ``<think>`` and ``</think>`` each appear exactly once, in that order;
  2. ``<answer>`` and ``</answer>`` each appear exactly once, in that order;
  3. the answer block follows the reasoning block with only whitespace between them;
  4. only whitespace before the first tag and after the last one.

``r1`` (R1 and its distills: ``<think>\\n reasoning \\n</think>\\n\\n summary``)
  1. ``<think>`` and ``</think>`` each appear exactly once, in that order;
  2. the reasoning is not empty (not only whitespace);
  3. a non-empty summary follows ``</think>``;
  4. only whitespace before ``<think>``.

``strict`` scores 1.0 when all four hold, else 0.0; otherwise each condition earns 0.25.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from .base import Reward
from .text import THINK_CLOSE, THINK_OPEN, completion_text

ANSWER_OPEN, ANSWER_CLOSE = "<answer>", "</answer>"
TEMPLATES = ("zero", "r1")


def _block(text: str, open_tag: str, close_tag: str) -> tuple[int, int] | None:
    """``(start of open_tag, end of close_tag)`` when each occurs once, in order; else ``None``."""
    if text.count(open_tag) != 1 or text.count(close_tag) != 1:
        return None
    start, close = text.find(open_tag), text.find(close_tag)
    return (start, close + len(close_tag)) if start < close else None


def zero_conditions(text: str) -> list[bool]:
    """The four conditions of the ``zero`` template (see the module docstring)."""
    think = _block(text, THINK_OPEN, THINK_CLOSE)
    answer = _block(text, ANSWER_OPEN, ANSWER_CLOSE)
    ordered = bool(think and answer) and think[1] <= answer[0] and not text[think[1]:answer[0]].strip()
    stripped = text.strip()
    return [think is not None, answer is not None, ordered, stripped.startswith(THINK_OPEN) and stripped.endswith(ANSWER_CLOSE)]


def r1_conditions(text: str) -> list[bool]:
    """The four conditions of the ``r1`` template (see the module docstring)."""
    think = _block(text, THINK_OPEN, THINK_CLOSE)
    reasoning = text[think[0] + len(THINK_OPEN): think[1] - len(THINK_CLOSE)] if think else ""
    close = text.rfind(THINK_CLOSE)
    summary = text[close + len(THINK_CLOSE):] if close >= 0 else ""
    return [think is not None, bool(reasoning.strip()), bool(summary.strip()), text.lstrip().startswith(THINK_OPEN)]


_CONDITIONS = {"zero": zero_conditions, "r1": r1_conditions}


class FormatReward(Reward):
    """How well a completion follows the ``zero`` or ``r1`` output template.

    Counter logged through ``log_metric``: ``format/unclosed_think`` (``<think>`` opened and
    never closed: usually a completion cut at the length limit).

    Args:
        template: ``"zero"`` for R1-Zero's ``<think>...</think><answer>...</answer>``, ``"r1"``
            for ``<think>...</think>`` followed by a summary.
        strict: 1.0 for the exact structure and 0.0 for anything else; when ``False``, 0.25
            for each of the template's four structural conditions that holds.
        think_prefilled: the chat template already opened ``<think>`` in the prompt (e.g.
            DeepSeek-R1-Distill's ``<think>\\n`` generation prompt), so completions start
            inside the reasoning: they are scored as if they began with ``<think>``.

    >>> reward = FormatReward(template="zero")
    >>> reward(prompts=["q", "q"], completions=["<think>a</think> <answer>4</answer>", "<answer>4</answer>"])
    [1.0, 0.0]
    >>> FormatReward(template="r1", strict=False)(prompts=["q"], completions=["<think>hmm"])
    [0.25]
    """

    name = "format"
    counters = ("unclosed_think",)

    def __init__(self, *, template: str = "zero", strict: bool = True, think_prefilled: bool = False):
        super().__init__()
        if template not in TEMPLATES:
            raise ValueError(f"Unknown format template {template!r}; choose one of {', '.join(map(repr, TEMPLATES))}.")
        self.template = template
        self.strict = bool(strict)
        self.think_prefilled = bool(think_prefilled)

    def score(self, prompts: list, completions: list, columns: dict[str, Any], counts: Counter[str]) -> list[float | None]:
        check = _CONDITIONS[self.template]
        rewards = []
        for completion in completions:
            text = completion_text(completion)
            if self.think_prefilled:
                text = THINK_OPEN + text
            if THINK_OPEN in text and THINK_CLOSE not in text:
                counts["unclosed_think"] += 1
            met = check(text)
            rewards.append(float(all(met)) if self.strict else sum(met) / len(met))
        return rewards
