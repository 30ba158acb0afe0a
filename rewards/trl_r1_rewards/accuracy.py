r"""``accuracy``: is the final answer mathematically equal to the gold one? (R1's math reward.)

The gold comes from a dataset column as stored in real datasets: bare LaTeX (``\sqrt{3}``,
``2\pi``, ``(1,2)``, ``\frac12``, ``C``), ``$...$``-delimited text, or MATH-style ``\boxed{..}``.
The prediction is the last ``\boxed{..}`` of the answer region (after ``</think>``, or inside
``<answer>`` with ``answer_tags``), else the tail of that region. math-verify parses both and
decides equality (``1/2 == 0.5 == \frac{1}{2}``, intervals, sets, equations).

Scoring runs in worker processes (:mod:`trl_r1_rewards.parallel`), each pair under a hard
deadline that holds from any thread; a pair that exceeds it scores 0.0 and is counted.
Workers cache parsed golds and verdicts: in GRPO each gold comes back once per generation.

Two things never reach the workers (:func:`fast_score`, in the calling process):

- *duplicates*: identical ``(gold, answer, boxed)`` triples of a batch (a GRPO group repeats
  its right answer many times) are scored once;
- *plain numbers*: when the gold and the answer are both plain decimals (``42``, ``-0.5``,
  ``007``; no ``1,000``, no ``1e3``), they are compared exactly, which is what math-verify
  decides on them, except for unequal numbers closer than its float rounding, which still
  go to math-verify. Integers are every answer of AIME and GSM8K and most of MATH's.

In the workers, math-verify's LaTeX parser (ANTLR) first predicts in SLL mode and falls back
to its default full-context LL mode only on a syntax error (:func:`fast_parsing`): ANTLR
guarantees that an SLL parse without syntax error yields the very tree LL would, and LL's
full-context prediction is what makes ``(1,2)`` or ``\{1,2\}`` cost 30-50 ms a parse.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import logging
import re
from collections import Counter
from fractions import Fraction
from typing import Any

from math_verify import ExprExtractionConfig, LatexExtractionConfig, parse, verify

from .base import Reward
from .parallel import Failure, default_num_workers, shared_pool
from .text import answer_region, completion_text, last_boxed

# Without a \boxed{}, only the end of the answer region is parsed: that is where answers are,
# and it bounds the work on a megabyte of rambling.
UNBOXED_TAIL_CHARS = 2000
_MATH_DELIMITERS = re.compile(r"(?<!\\)\$|\\\(|\\\[")


_FAST_PARSING = contextvars.ContextVar("trl_r1_fast_parsing", default=False)


def _install_two_stage_parsing() -> bool:
    """Make latex2sympy's parsers predict SLL first while :data:`_FAST_PARSING` is set."""
    try:
        from antlr4.atn.PredictionMode import PredictionMode
        from latex2sympy2_extended.latex2sympy2 import _Latex2Sympy
    except ImportError:  # another latex2sympy: its own parsing, only slower
        return False
    create_parser = _Latex2Sympy.create_parser
    if getattr(create_parser, "_two_stage", False):
        return True

    def two_stage_create_parser(self, latex_str):
        parser = create_parser(self, latex_str)
        if not _FAST_PARSING.get():
            return parser
        parser._interp.predictionMode = PredictionMode.SLL
        sll_math = parser.math

        def math():
            try:
                return sll_math()
            except Exception:  # noqa: BLE001 - a syntax error under SLL: parse again as usual (LL)
                return create_parser(self, latex_str).math()

        parser.math = math
        return parser

    two_stage_create_parser._two_stage = True
    _Latex2Sympy.create_parser = two_stage_create_parser
    return True


TWO_STAGE_PARSING = _install_two_stage_parsing()


@contextlib.contextmanager
def fast_parsing():
    """Within: math-verify parses LaTeX with two-stage (SLL, then LL) prediction; same results."""
    token = _FAST_PARSING.set(True)
    try:
        yield
    finally:
        _FAST_PARSING.reset(token)


@functools.lru_cache(maxsize=4096)
def _parse_expression(expr: str) -> list:
    """A bare LaTeX expression, as math-verify reads it between ``$...$`` (plain text after)."""
    return parse(f"${expr}$", [LatexExtractionConfig()], parsing_timeout=None) or parse(
        expr, [ExprExtractionConfig()], parsing_timeout=None
    )


def _gold_expression(gold: str) -> str | None:
    """The bare expression :func:`parse_gold` reads, ``None`` for math delimited in prose."""
    boxed = last_boxed(gold)
    if boxed is not None:
        return boxed
    if _MATH_DELIMITERS.search(gold):
        return None
    return gold


@functools.lru_cache(maxsize=4096)
def parse_gold(gold: str) -> list:
    r"""Parse a gold answer as datasets store it; ``[]`` when it cannot be read.

    >>> [str(parse_gold(g)[0]) for g in [r"\sqrt{3}", r"2\pi", r"\boxed{\frac12}", "$0.5$", "C"]]
    ['sqrt(3)', '2*pi', '1/2', '1/2', 'c']
    """
    expression = _gold_expression(gold)
    if expression is None:  # delimited math inside prose: math-verify finds it
        return parse(gold, parsing_timeout=None)
    return _parse_expression(expression)


def parse_answer(answer: str, boxed: bool) -> list:
    r"""Parse a predicted answer as :func:`extract_answer` returns it; ``[]`` when unreadable.

    A boxed answer is a bare expression; free text is searched for its last math.

    >>> str(parse_answer(r"\frac{1}{2}", boxed=True)[0]), str(parse_answer("so it is $x=3$", boxed=False)[0])
    ('1/2', 'Eq(x, 3)')
    """
    return _parse_expression(answer) if boxed else parse(answer, parsing_timeout=None)


@functools.lru_cache(maxsize=16384)
def score_answer(task: tuple[str, str | None, bool]) -> tuple[float | None, str | None]:
    """Score one ``(gold, answer, boxed)`` triple -> ``(reward, counter or None)``.

    ``answer`` is the content of a ``\\boxed{}`` when ``boxed``, else free text; ``None``
    when the completion never answered. Runs in a worker; module-level so that it pickles.
    """
    with fast_parsing():
        return _score_answer(*task)


def _score_answer(gold: str, answer: str | None, boxed: bool) -> tuple[float | None, str | None]:
    gold_parsed = parse_gold(gold)
    if not gold_parsed:
        return None, "unparseable_golds"
    if answer is None:
        return 0.0, "missing_answers"
    if boxed and answer == _gold_expression(gold) and any(isinstance(p, str) and p.strip() for p in gold_parsed):
        # The same string parses to the same list, and verify() then matches its string form.
        return 1.0, None
    predicted = parse_answer(answer, boxed)
    if not predicted:
        return 0.0, "unparseable_answers"
    return float(verify(gold_parsed, predicted, timeout_seconds=None)), None


# A sign, digits, at most one decimal point with digits after it. Longer numbers go to
# math-verify: int() refuses more than 4300 digits, and nobody's gold is that long.
_PLAIN_NUMBER = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]+)?|\.[0-9]+)")  # ASCII digits only
_MAX_NUMBER_CHARS = 1000
# math-verify rounds floats to 6 decimals and evaluates to 15 digits: unequal numbers closer
# than this (relative to their size, or to 1) may still be "equal" to it, so it decides those.
_CLOSE = Fraction(1, 10**5)


def plain_number(text: str) -> Fraction | None:
    text = text.strip()
    if text.startswith("$") and text.endswith("$") and text.count("$") == 2:
        text = text[1:-1].strip()
    if len(text) > _MAX_NUMBER_CHARS or not _PLAIN_NUMBER.fullmatch(text):
        return None
    return Fraction(text)


def fast_score(task: tuple[str, str | None, bool]) -> tuple[float, str | None] | None:
    """:func:`score_answer`'s verdict when it is certain without math-verify, else ``None``.

    Decides pairs of plain decimal numbers (and a missing answer to a plain-number gold).

    >>> fast_score(("42", "42.0", True)), fast_score(("-7", "7", True)), fast_score(("1,000", "1000", True))
    ((1.0, None), (0.0, None), None)
    """
    gold, answer, _ = task
    gold_expression = _gold_expression(gold)
    expected = plain_number(gold_expression if gold_expression is not None else gold)
    if expected is None:
        return None
    if answer is None:
        return 0.0, "missing_answers"
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


# The deadline is ours (parallel.py): math-verify's signal-based one is off, and so is its
# warning that says so.
logging.getLogger("math_verify.parser").setLevel(logging.ERROR)
logging.getLogger("math_verify.grader").setLevel(logging.ERROR)


def extract_answer(completion: object, answer_tags: bool = False) -> tuple[str | None, bool]:
    r"""``(answer, boxed)``: what :func:`score_answer` reads from one completion.

    >>> extract_answer(r"<think>\boxed{1}?</think> so \boxed{2}.")
    ('2', True)
    >>> extract_answer("<think>never closed")
    (None, False)
    """
    region = answer_region(completion_text(completion), answer_tags=answer_tags)
    if region is None:
        return None, False
    boxed = last_boxed(region)
    if boxed is not None:
        return boxed, True
    return region[-UNBOXED_TAIL_CHARS:], False


class AccuracyReward(Reward):
    r"""1.0 when the final answer equals the gold answer mathematically, else 0.0.

    ``None`` (TRL skips it) when the gold cannot be parsed. Counters logged through
    ``log_metric``: ``accuracy/timeouts``, ``accuracy/missing_answers`` (no answer region:
    unclosed ``<think>`` or no ``<answer>`` block), ``accuracy/unparseable_answers``,
    ``accuracy/unparseable_golds``, ``accuracy/crashes`` (math-verify raised or a worker died).

    Args:
        solution_column: the dataset column (reward keyword argument) holding the gold answers.
        answer_tags: read the answer inside the last ``<answer>...</answer>`` after the
            reasoning (R1-Zero template), instead of everything after ``</think>``.
        timeout: seconds allowed to parse and verify one completion; past it the worker is
            killed and replaced and the completion scores 0.0.
        num_workers: worker processes (``None``: one per CPU core, at most 4). ``0`` scores in
            the calling process without any deadline: for debugging only.

    >>> reward = AccuracyReward()
    >>> reward(prompts=["?", "?", "?"],
    ...        completions=[r"<think>...</think> $\boxed{2\pi}$", r"</think> \boxed{\frac{\sqrt3}{2}}",
    ...                     [{"role": "assistant", "content": r"<think>\boxed{6.28"}]],
    ...        solution=[r"2\pi", r"\frac{\sqrt{3}}{2}", r"2\pi"])
    [1.0, 1.0, 0.0]
    """

    name = "accuracy"
    counters = ("timeouts", "crashes", "missing_answers", "unparseable_answers", "unparseable_golds")
    gold_option = "solution_column"

    def __init__(
        self,
        *,
        solution_column: str = "solution",
        answer_tags: bool = False,
        timeout: float = 10.0,
        num_workers: int | None = None,
    ):
        super().__init__()
        if not isinstance(solution_column, str) or not solution_column:
            raise ValueError(f"solution_column must be a non-empty column name, got {solution_column!r}")
        if not timeout > 0:
            raise ValueError(f"timeout must be a positive number of seconds, got {timeout!r}")
        if num_workers is None:
            num_workers = default_num_workers()
        if not isinstance(num_workers, int) or num_workers < 0:
            raise ValueError(f"num_workers must be an int >= 0 (0 = in-process), got {num_workers!r}")
        self.solution_column = solution_column
        self.answer_tags = bool(answer_tags)
        self.timeout = float(timeout)
        self.num_workers = num_workers

    def score(self, prompts: list, completions: list, columns: dict[str, Any], counts: Counter[str]) -> list[float | None]:
        if self.solution_column not in columns:
            raise KeyError(
                f"The accuracy reward reads gold answers from the {self.solution_column!r} column, which the "
                f"dataset does not have (columns: {sorted(k for k in columns if k not in _TRL_KWARGS)}); "
                f"set the solution_column option."
            )
        golds = columns[self.solution_column]
        tasks = [
            (str(gold) if gold is not None else "", *extract_answer(completion, self.answer_tags))
            for completion, gold in zip(completions, golds, strict=True)
        ]
        outcomes: dict[tuple, Any] = {}  # each distinct task once
        for task in tasks:
            if task not in outcomes:
                outcomes[task] = fast_score(task)
        slow = [task for task, outcome in outcomes.items() if outcome is None]
        if slow:
            pool = shared_pool(self.num_workers, preload=[__name__])
            outcomes.update(zip(slow, pool.map(score_answer, slow, timeout=self.timeout)))
        rewards: list[float | None] = []
        for task in tasks:  # counters count completions, duplicates included
            outcome = outcomes[task]
            if isinstance(outcome, Failure):
                counts["timeouts" if outcome is Failure.TIMEOUT else "crashes"] += 1
                rewards.append(0.0)
            else:
                reward, counter = outcome
                if counter:
                    counts[counter] += 1
                rewards.append(reward)
        return rewards


    def final_answer(self, completion: object) -> str | None:
        """The last boxed answer after the reasoning, else the tail of the answer region."""
        return extract_answer(completion, self.answer_tags)[0]

    def group_answers(self, questions: list[list[str | None]]) -> list[list[int | None]]:
        """cons@k groups: equivalent final answers share an id (:mod:`.voting`)."""
        from .voting import group_by_equivalence  # voting imports this module

        return group_by_equivalence(questions, self.num_workers)


_TRL_KWARGS = {"trainer_state", "log_extra", "log_metric", "completion_ids", "environments"}
