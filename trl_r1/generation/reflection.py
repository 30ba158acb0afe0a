"""Counting R1's reflection words: the "aha moment" made measurable.

The paper tracks ten words (wait, mistake, however, but, retry, error, verify, wrong,
evaluate, check) whose frequency rises 5-7x during R1-Zero training. Training logs them every
step and evaluation reports them, both through this one definition.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence

# The ten words the paper tracks (its "aha moment" analysis).
REFLECTION_WORDS = ("wait", "mistake", "however", "but", "retry", "error", "verify", "wrong", "evaluate", "check")

_WORD = re.compile(r"\w+", re.UNICODE)


def reflection_counts(texts: Iterable[str], words: Sequence[str]) -> tuple[Counter, int]:
    """Occurrences of each of ``words`` (whole words, case-insensitive) and the total word count.

    >>> counts, total = reflection_counts(["Wait, but wait: check it.", "fine"], ["wait", "but", "check"])
    >>> dict(counts), total
    ({'wait': 2, 'but': 1, 'check': 1}, 6)
    """
    wanted = {w.lower() for w in words}
    counts: Counter = Counter({w.lower(): 0 for w in words})
    total = 0
    for text in texts:
        for match in _WORD.finditer(text.lower()):
            total += 1
            token = match.group()
            if token in wanted:
                counts[token] += 1
    return counts, total


def rate_per_1k_words(count: float, total_words: float) -> float:
    """Occurrences per 1,000 words (0.0 for no words).

    >>> rate_per_1k_words(3, 600)
    5.0
    """
    return 1000.0 * count / total_words if total_words else 0.0
