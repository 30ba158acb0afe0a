r"""Readability filters of R1's rejection sampling (stage 3), as pure functions.

The paper keeps only correct responses and then "filtered out chain-of-thought with mixed
languages, long paragraphs, and code blocks" (docs/r1.md, "The four stages of R1", 3). Each filter here has a
name, which is the reason a rejected response is counted under in the sample stage's stats:

- ``no_reasoning``: no closed ``<think>...</think>`` followed by a summary (the R1 format the
  SFT data teaches); an unopened ``...</think>`` counts as closed, as chat templates that
  open the reasoning themselves produce it;
- ``code_block``: a fenced code block (```) in the answer to a task that is not a coding task;
- ``long_paragraph``: a paragraph (text between blank lines, code blocks left out) longer than
  a number of characters (characters, not words, so that Chinese counts too);
- ``mixed_language``: the ``language_consistency`` reward below a threshold.
"""

from __future__ import annotations

import re

from trl_r1_rewards import split_reasoning

CODE_FENCE = "```"
_FENCED = re.compile(r"```.*?(?:```|\Z)", re.DOTALL)
_BLANK_LINE = re.compile(r"\n\s*\n")
CODE_TASKS = ("code",)

FILTERS = ("no_reasoning", "code_block", "long_paragraph", "mixed_language")


def has_reasoning(text: str) -> bool:
    r"""Reasoning closed by ``</think>`` and a non-empty summary after it.

    >>> has_reasoning("<think>2 + 2 is 4.</think>\n\nThe answer is 4."), has_reasoning("2 + 2 is 4.</think> 4")
    (True, True)
    >>> has_reasoning("<think>2 + 2 is"), has_reasoning("The answer is 4."), has_reasoning("<think>4</think>  ")
    (False, False, False)
    """
    reasoning, summary = split_reasoning(text)
    return reasoning is not None and summary is not None and bool(summary.strip())


def has_code_block(text: str) -> bool:
    r"""A fenced code block (an opening ```), anywhere in the response.

    >>> has_code_block("Use\n```python\nprint(4)\n```"), has_code_block("Inline `x = 4` is fine.")
    (True, False)
    """
    return CODE_FENCE in text


def longest_paragraph(text: str) -> int:
    r"""Characters in the longest paragraph (text between blank lines; fenced code left out).

    >>> longest_paragraph("Short.\n\nA longer one,\nstill one paragraph.\n\n```\n" + "x" * 99 + "\n```")
    34
    """
    return max((len(p.strip()) for p in _BLANK_LINE.split(_FENCED.sub("\n\n", text))), default=0)


def is_code_task(task: object, scorer: str | None) -> bool:
    r"""A row is a coding task when its task column says so or the scorer runs code.

    >>> is_code_task("code", "accuracy"), is_code_task(None, "code"), is_code_task("math", "accuracy")
    (True, True, False)
    """
    return task in CODE_TASKS or scorer == "code"


def rejection_reason(
    text: str,
    *,
    allow_code_blocks: bool,
    language_score: float | None,
    require_reasoning: bool = True,
    max_paragraph_chars: int | None = None,
    language_threshold: float | None = None,
) -> str | None:
    r"""The first filter (in :data:`FILTERS` order) that rejects ``text``, ``None`` when it passes.
    Code blocks are allowed in answers to coding tasks (:func:`is_code_task`). ``None`` for a
    setting turns its filter off; a ``language_score`` of ``None`` (no words to judge) passes.

    >>> good = "<think>Two plus two is four.</think>\n\n**4**"
    >>> rejection_reason(good, allow_code_blocks=False, language_score=1.0, max_paragraph_chars=100, language_threshold=0.9)
    >>> rejection_reason("**4**", allow_code_blocks=False, language_score=1.0)
    'no_reasoning'
    >>> rejection_reason(good + "\n```\nprint(4)\n```", allow_code_blocks=False, language_score=1.0)
    'code_block'
    >>> rejection_reason(good + "\n```\nprint(4)\n```", allow_code_blocks=True, language_score=1.0) is None
    True
    >>> rejection_reason(good, allow_code_blocks=False, language_score=1.0, max_paragraph_chars=20)
    'long_paragraph'
    >>> rejection_reason(good, allow_code_blocks=False, language_score=0.5, language_threshold=0.9)
    'mixed_language'
    """
    if require_reasoning and not has_reasoning(text):
        return "no_reasoning"
    if not allow_code_blocks and has_code_block(text):
        return "code_block"
    if max_paragraph_chars is not None and longest_paragraph(text) > max_paragraph_chars:
        return "long_paragraph"
    if language_threshold is not None and language_score is not None and language_score < language_threshold:
        return "mixed_language"
    return None
