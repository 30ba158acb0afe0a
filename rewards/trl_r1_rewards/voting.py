r"""Grouping final answers for cons@k, the majority vote over k samples: the groups are what
the vote counts. Math answers group by equivalence (``1/2``, ``0.5`` and ``\frac{1}{2}`` are one
answer) with the parsing the ``accuracy`` reward uses, run in its worker pool under a deadline
because math-verify on model output can take unbounded time; labels group by identical text."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from fractions import Fraction

from math_verify import verify

from .accuracy import fast_parsing, parse_gold, plain_number
from .parallel import Failure, default_num_workers, shared_pool

logger = logging.getLogger(__name__)

# Grouping one question's k answers may call math-verify k^2 times.
GROUPING_TIMEOUT = 60.0


class _Answer:
    """One final answer, parsed once, the way a gold answer is read (a bare expression, or the
    delimited math in prose)."""

    def __init__(self, text: str):
        self.text = text.strip()
        self.number: Fraction | None = plain_number(self.text)
        self._parsed: list | None = None

    @property
    def parsed(self) -> list:
        if self._parsed is None:
            try:
                with fast_parsing():
                    self._parsed = parse_gold(self.text)
            except Exception:  # noqa: BLE001 - unreadable model output is its own answer
                self._parsed = []
        return self._parsed

    def same_as(self, other: _Answer) -> bool:
        if self.text == other.text:
            return True
        if self.number is not None and other.number is not None:
            return self.number == other.number
        if not self.parsed or not other.parsed:
            return False
        try:
            return bool(verify(self.parsed, other.parsed, timeout_seconds=None))
        except Exception:  # noqa: BLE001
            return False


def equivalence_groups(answers: Sequence[str | None]) -> list[int | None]:
    r"""A group id per answer, in order of first appearance: equal ids for mathematically
    equivalent answers; ``None`` for no answer (it does not vote).

    >>> equivalence_groups([r"\frac{1}{2}", "0.5", "2", None, "1/2"])
    [0, 0, 1, None, 0]
    """
    representatives: list[_Answer] = []
    ids: list[int | None] = []
    for text in answers:
        if text is None or not text.strip():
            ids.append(None)
            continue
        answer = _Answer(text)
        for i, representative in enumerate(representatives):
            if answer.same_as(representative):
                ids.append(i)
                break
        else:
            representatives.append(answer)
            ids.append(len(representatives) - 1)
    return ids


def identical_groups(answers: Sequence[str | None]) -> list[int | None]:
    """A group id per answer by identical (stripped) text.

    >>> identical_groups(["2", " 2", "2.0", None])
    [0, 0, 1, None]
    """
    seen: dict[str, int] = {}
    return [None if not (text and text.strip()) else seen.setdefault(text.strip(), len(seen)) for text in answers]


def group_by_equivalence(questions: Sequence[Sequence[str | None]], num_workers: int | None = None,
                         timeout: float = GROUPING_TIMEOUT) -> list[list[int | None]]:
    """:func:`equivalence_groups` for each question's answers, questions in parallel in the worker
    pool; a question whose grouping takes more than ``timeout`` seconds falls back to
    :func:`identical_groups`.

    >>> group_by_equivalence([["1", "1.0"], ["5", "6"]])
    [[0, 0], [0, 1]]
    """
    questions = [list(q) for q in questions]
    pool = shared_pool(default_num_workers() if num_workers is None else num_workers, preload=[__name__])
    groups = []
    for answers, ids in zip(questions, pool.map(equivalence_groups, questions, timeout=timeout), strict=True):
        if isinstance(ids, Failure):
            logger.warning("cons@k: grouping %d answers by equivalence failed (%s); grouping identical text",
                           len(answers), ids.value)
            ids = identical_groups(answers)
        groups.append(ids)
    return groups
