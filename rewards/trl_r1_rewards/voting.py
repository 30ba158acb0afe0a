r"""Grouping final answers for cons@k, the majority vote over k samples: the groups are what
the vote counts. Math answers group by equivalence (``1/2``, ``0.5`` and ``\frac{1}{2}`` are one
answer) with the parsing the ``accuracy`` reward uses, run in its worker pool under a deadline
because math-verify on model output can take unbounded time; labels group by identical text."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from .equivalence import answers_match
from .parallel import Failure, default_num_workers, shared_pool

logger = logging.getLogger(__name__)

# Grouping one question's k answers may call math-verify k^2 times.
GROUPING_TIMEOUT = 60.0


def _same(a: str, b: str) -> bool:
    """As the ``accuracy`` reward compares an answer with a gold (parts as sets, words as text)."""
    try:
        return answers_match(a, b)
    except Exception:  # noqa: BLE001 - unreadable model output is its own answer
        return False


def equivalence_groups(answers: Sequence[str | None]) -> list[int | None]:
    r"""A group id per answer, in order of first appearance: equal ids for equivalent answers
    (:func:`~trl_r1_rewards.equivalence.answers_match`); ``None`` for no answer (it does not vote).

    >>> equivalence_groups([r"\frac{1}{2}", "0.5", "2", None, "1/2", "-2, 1", "1, -2", "Alice", "ecilA"])
    [0, 0, 1, None, 0, 2, 2, 3, 4]
    """
    representatives: list[str] = []
    ids: list[int | None] = []
    for text in answers:
        if text is None or not text.strip():
            ids.append(None)
            continue
        for i, representative in enumerate(representatives):
            if _same(text, representative):
                ids.append(i)
                break
        else:
            representatives.append(text)
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
