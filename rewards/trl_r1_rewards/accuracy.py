r"""``accuracy``: is the final answer the gold one, as a careful grader would decide? (R1's math
reward.) Golds are read as real datasets store them (bare LaTeX, ``$...$`` text, boxes, lists,
words); the prediction is the final boxes of the answer region. A multi-part gold needs every
part, a single gold takes the last box, words compare as normalised text
(:mod:`trl_r1_rewards.answers`) and mathematics is math-verify's call, in worker processes under
CPU deadlines (:mod:`trl_r1_rewards.parallel`). Duplicates and plain numbers are settled in the
calling process (:func:`fast_score`); rewards/README.md, "accuracy", has the rules and the costs.
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

from .answers import (
    MAX_NESTING,
    MAX_PARTS,
    is_prose,
    nesting_depth,
    normalise_text,
    number_from_words,
    split_parts,
    stated_text,
    too_costly,
)
from .base import Reward
from .parallel import Failure, default_num_workers, shared_pool
from .text import answer_region, completion_text, final_boxes, last_boxed, prompt_text

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


# A prose gold longer than this is a sentence, not an answer: it cannot be graded as text.
MAX_PROSE_WORDS = 3


@functools.lru_cache(maxsize=4096)
def read_gold(gold: str) -> tuple[str, tuple[str, ...]]:
    r"""How a gold is graded: ``("math", ())`` one mathematical answer (math-verify);
    ``("parts", parts)`` several, compared as a set; ``("number", (digits,))`` a number in
    words; ``("prose", (words,))`` normalised text; ``("none", ())`` not gradable (a sentence).

    >>> read_gold(r"\(\boxed{1}\) and \(\boxed{-2}\)"), read_gold("(2, 2), (6, 2)")
    (('parts', ('1', '-2')), ('parts', ('(2, 2)', '(6, 2)')))
    >>> read_gold(r"\text{The Alice}"), read_gold(r"\frac{1}{2}"), read_gold("It is forty two.")
    (('prose', ('alice',)), ('math', ()), ('none', ()))
    >>> read_gold("forty two")
    ('number', ('42',))
    """
    boxes = final_boxes(gold)
    if not boxes and _MATH_DELIMITERS.search(gold):  # delimited math inside prose: math-verify finds it
        return "math", ()
    expressions = boxes or [gold]
    if len(expressions) == 1 and is_prose(expressions[0]):
        number = number_from_words(expressions[0])
        if number is not None:
            return "number", (str(number),)
        words = normalise_text(expressions[0])
        return ("prose", (words,)) if 0 < len(words.split()) <= MAX_PROSE_WORDS else ("none", ())
    parts = _unique(part for expression in expressions for part in split_parts(expression))
    if 2 <= len(parts) <= MAX_PARTS:
        return "parts", tuple(parts)
    return "math", ()


def _unique(parts) -> list[str]:
    seen: dict[str, str] = {}
    for part in parts:
        seen.setdefault(re.sub(r"\s+", "", part), part)
    return list(seen.values())


def parts_equal(a: str, b: str) -> bool:
    r"""Whether two single answers (bare expressions or words) are the same answer: words as
    normalised text, numbers exactly, the rest by math-verify.

    >>> parts_equal(r"\frac{1}{2}", "0.5"), parts_equal("Alice", r"\text{alice}"), parts_equal("stop", "pots")
    (True, True, False)
    >>> parts_equal("42", r"\text{forty-two}"), parts_equal("forty two", "two forty")
    (True, False)
    """
    if re.sub(r"\s+", "", a) == re.sub(r"\s+", "", b):
        return True
    a, b = _digits_for_words(a), _digits_for_words(b)
    if is_prose(a) or is_prose(b):
        return normalise_text(a) == normalise_text(b)
    settled = fast_score((a, (b,), True))
    if settled is not None:
        return settled[0] == 1.0
    expected, predicted = parse_gold(a), parse_gold(b)  # a box may hold $..$ too: read both as golds are
    return bool(expected and predicted and verify(expected, predicted, timeout_seconds=None))


def _digits_for_words(expression: str) -> str:
    """A number written in words as digits ("forty two" -> "42"); anything else unchanged."""
    if is_prose(expression):
        number = number_from_words(expression)
        if number is not None:
            return str(number)
    return expression


def match_parts(expected: list[str], predicted: list[str], equal=parts_equal) -> bool:
    """Whether ``predicted`` is ``expected`` as a set: as many parts, each matched to its own
    equal (a bipartite matching, so ``x, 2x`` against ``2x, x`` finds its pairs).

    >>> match_parts(["1", "-2"], ["-2", "1"]), match_parts(["1", "-2"], ["-2"]), match_parts(["1", "-2"], ["1", "1"])
    (True, False, False)
    """
    if len(expected) != len(predicted):
        return False
    verdicts: dict[tuple[int, int], bool] = {}

    def same(i: int, j: int) -> bool:
        if (i, j) not in verdicts:
            verdicts[i, j] = equal(expected[i], predicted[j])
        return verdicts[i, j]

    owner: dict[int, int] = {}  # predicted part -> the expected part it is matched to

    def assign(i: int, tried: set[int]) -> bool:
        for j in range(len(predicted)):
            if j not in tried and same(i, j):
                tried.add(j)
                if j not in owner or assign(owner[j], tried):
                    owner[j] = i
                    return True
        return False

    return all(assign(i, set()) for i in range(len(expected)))


def answers_match(a: str, b: str) -> bool:
    r"""Whether two final answers, as :func:`extract_answer` returns them, are the same answer:
    bare expressions are split into parts and compared as sets of parts (one part each:
    :func:`parts_equal`); text with delimited math (an unboxed answer) by the last mathematics
    math-verify finds in each. What cons@k voting groups by; symmetric. A pathological answer
    only matches its own text.

    >>> answers_match("1, -2", r"-2, 1"), answers_match("(2, 2), (6, 2)", "(6, 2)"), answers_match("0.5", r"\frac12")
    (True, False, True)
    >>> answers_match("Alice", "ecilA"), answers_match("so it is $0.5$.", r"\frac{1}{2}")
    (False, True)
    """
    a, b = a.strip(), b.strip()
    if a == b:
        return True
    with fast_parsing():
        if _MATH_DELIMITERS.search(a) or _MATH_DELIMITERS.search(b):
            if max(nesting_depth(a), nesting_depth(b)) > MAX_NESTING:
                return False
            first, second = parse_gold(a), parse_gold(b)
            return bool(first and second and verify(first, second, timeout_seconds=None))
        if too_costly(a) or too_costly(b):
            return False
        parts_a, parts_b = split_parts(a), split_parts(b)
        if len(parts_a) == 1 and len(parts_b) == 1:
            return parts_equal(a, b)
        if len(parts_a) == len(parts_b):
            return match_parts(parts_a, parts_b)
        return _verify_whole(a, b) == 1.0


@functools.lru_cache(maxsize=16384)
def score_answer(task: tuple[str, tuple[str, ...] | None, bool]) -> tuple[float | None, str | None]:
    """Score one ``(gold, answers, boxed)`` task (as :func:`read_answer` gives it) -> ``(reward,
    counter or None)``. Runs in a worker; module-level so that it pickles.
    """
    with fast_parsing():
        return _score_answer(*task)


def _score_answer(gold: str, answers: tuple[str, ...] | None, boxed: bool) -> tuple[float | None, str | None]:
    kind, expected = read_gold(gold)
    if kind == "none":
        return None, "unparseable_golds"
    if kind == "math" and not parse_gold(gold):
        return None, "unparseable_golds"
    if answers is None:
        return 0.0, "missing_answers"
    if kind in ("prose", "number"):  # words: the last box, or what the text states
        said = answers[-1] if boxed else stated_text(answers[-1])
        if kind == "number":
            return float(parts_equal(expected[0], said)), None
        return float(normalise_text(said) == expected[0]), None
    if kind == "parts":  # every final box is part of the answer
        if not boxed:
            return _verify_text(", ".join(expected), answers[-1])
        predicted = _unique(part for box in answers for part in split_parts(box))
        if len(predicted) == len(expected):
            return float(match_parts(list(expected), predicted)), None
        # As many parts written otherwise ("2, 3" as the pair "(2, 3)"): math-verify on the
        # whole, which never takes a set for one of its members.
        return _verify_whole(", ".join(expected), ", ".join(answers)), None
    answer = answers[-1]  # one answer: R1's rule, the last box wins
    if boxed and is_prose(answer):  # words against mathematics: never a product of letters
        return float(parts_equal(_gold_expression(gold) or gold, answer)), None
    gold_parsed = parse_gold(gold)
    if boxed and answer == _gold_expression(gold) and any(isinstance(p, str) and p.strip() for p in gold_parsed):
        # The same string parses to the same list, and verify() then matches its string form.
        return 1.0, None
    predicted = parse_answer(answer, boxed)
    if not predicted:
        return 0.0, "unparseable_answers"
    return float(verify(gold_parsed, predicted, timeout_seconds=None)), None


def _verify_whole(expected: str, answer: str) -> float:
    """Two multi-part answers, each read whole as one expression by math-verify."""
    if too_costly(answer):
        return 0.0
    first, second = _parse_expression(expected), _parse_expression(answer)
    return float(bool(first and second and verify(first, second, timeout_seconds=None)))


def _verify_text(expected: str, text: str) -> tuple[float, str | None]:
    """A multi-part gold against an unboxed answer: math-verify reads the text's last math."""
    predicted = parse_answer(text, boxed=False)
    if not predicted:
        return 0.0, "unparseable_answers"
    return float(verify(_parse_expression(expected), predicted, timeout_seconds=None)), None


# What warms a worker up before its first item: a parse of each kind of answer fills the
# parser's prediction tables (the first parse in a fresh process costs ~0.3 s).
_WARM_UP = [(r"\frac{1}{2}", (r"\dfrac{2}{4}",), True), ("(1,2)", ("(1, 2)",), True), (r"\{1,2\}", (r"\{2, 1\}",), True),
            (r"x^2+1", ("1 + x^2",), True), (r"[1, 3)", ("[1,3)",), True), (r"2\sqrt{3}", (r"\sqrt{12}",), True),
            ("y=2x+3", ("y = 3 + 2x",), True), ("5", ("so it is $5$",), False)]


def warm_up() -> None:
    """Score a few answers of each kind once (a worker runs this before reporting ready)."""
    with fast_parsing():  # the prediction mode the items are parsed in
        for task in _WARM_UP:
            _score_answer(*task)


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


def gold_number(gold: str) -> Fraction | None:
    r"""The gold as a plain number (``25``, ``$-1.5$``, ``\boxed{7}``), else ``None``."""
    expression = _gold_expression(gold)
    return plain_number(expression if expression is not None else gold)


def fast_score(task: tuple[str, tuple[str, ...] | None, bool]) -> tuple[float, str | None] | None:
    """:func:`score_answer`'s verdict when it is certain without math-verify, else ``None``.

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


# An expression copied from the question is not an answer to it, although math-verify gives it
# its value: asked "What is 30 - 5?", a policy learns to answer "30 - 5" (scored as 25).
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


# The deadline is ours (parallel.py): math-verify's signal-based one is off, and so is its
# warning that says so.
logging.getLogger("math_verify.parser").setLevel(logging.ERROR)
logging.getLogger("math_verify.grader").setLevel(logging.ERROR)


def read_answer(completion: object, answer_tags: bool = False) -> tuple[tuple[str, ...] | None, bool]:
    r"""``(answers, boxed)``: what :func:`score_answer` reads from one completion: the final
    boxes of the answer region (:func:`~trl_r1_rewards.text.final_boxes`: a multi-part answer
    boxes each part), else the region's tail; ``None`` when the completion never answered.

    >>> read_answer(r"<think>\boxed{1}?</think> so $\boxed{1}$ and $\boxed{-2}$.")
    (('1', '-2'), True)
    >>> read_answer("<think>never closed")
    (None, False)
    """
    region = answer_region(completion_text(completion), answer_tags=answer_tags)
    if region is None:
        return None, False
    boxes = final_boxes(region)
    if boxes:
        return tuple(boxes), True
    return (region[-UNBOXED_TAIL_CHARS:],), False


def extract_answer(completion: object, answer_tags: bool = False) -> tuple[str | None, bool]:
    r"""``(answer, boxed)``: the final answer as one string, what cons@k votes on; several
    final boxes are joined as one multi-part answer (compare with :func:`answers_match`).

    >>> extract_answer(r"<think>\boxed{1}?</think> so \boxed{2}.")
    ('2', True)
    >>> extract_answer(r"</think> \boxed{(2, 2)} \quad \text{and} \quad \boxed{(6, 2)}")
    ('(2, 2), (6, 2)', True)
    """
    answers, boxed = read_answer(completion, answer_tags)
    return (", ".join(answers) if answers is not None else None), boxed


class AccuracyReward(Reward):
    r"""1.0 when the final answer equals the gold answer mathematically, else 0.0.

    ``None`` (TRL skips it) when the gold cannot be graded. A gold with several parts (several
    boxes, a list of values) needs all of them, as a set, from the answer's final boxes; a
    single gold takes the last box (R1's rule); words are compared as normalised text (see
    :mod:`trl_r1_rewards.answers`). Counters logged through ``log_metric``:
    ``accuracy/pathological`` (an answer too nested or long to parse, or out of time: 0.0),
    ``accuracy/timeouts`` (the time-outs among them), ``accuracy/missing_answers`` (no answer
    region: unclosed ``<think>`` or no ``<answer>`` block), ``accuracy/unparseable_answers``,
    ``accuracy/unparseable_golds``, ``accuracy/crashes`` (math-verify raised or a worker died),
    ``accuracy/restated`` (an expression copied from the prompt: 0.0, see ``reject_restated``).

    Args:
        solution_column: the dataset column (reward keyword argument) holding the gold answers.
        answer_tags: read the answer inside the last ``<answer>...</answer>`` after the
            reasoning (R1-Zero template), instead of everything after ``</think>``.
        timeout: CPU seconds allowed to parse and verify one answer; past it the worker drops
            the answer (0.0, counted as pathological) and moves on. A worker stuck where it
            cannot be interrupted is killed after ``20 * timeout + 5`` seconds of wall time.
        batch_timeout: wall-clock seconds for one call's answers in the workers; answers not
            started by then score 0.0 (counted). ``None``: no limit.
        num_workers: worker processes (``None``: one per CPU core, at most 4). ``0`` scores in
            the calling process without any deadline: for debugging only.
        reject_restated: when the gold is a plain number, an answer that only copies an
            expression of the prompt (asked "What is 30 - 5?", answering ``30 - 5``) scores 0.0
            although it has the gold's value (:func:`restated`). ``False``: math-verify's verdict.

    >>> reward = AccuracyReward()
    >>> reward(prompts=["?", "?", "?"],
    ...        completions=[r"<think>...</think> $\boxed{2\pi}$", r"</think> \boxed{\frac{\sqrt3}{2}}",
    ...                     [{"role": "assistant", "content": r"<think>\boxed{6.28"}]],
    ...        solution=[r"2\pi", r"\frac{\sqrt{3}}{2}", r"2\pi"])
    [1.0, 1.0, 0.0]
    >>> reward(prompts=["?"] * 3, completions=[r"</think> \boxed{-2}", r"</think> $\boxed{-2}$ and $\boxed{1}$", r"\boxed{ecilA}"],
    ...        solution=[r"\(\boxed{1}\) and \(\boxed{-2}\)"] * 2 + ["Alice"])
    [0.0, 1.0, 0.0]
    """

    name = "accuracy"
    counters = ("pathological", "timeouts", "crashes", "missing_answers", "unparseable_answers", "unparseable_golds",
                "restated")
    gold_option = "solution_column"

    def __init__(
        self,
        *,
        solution_column: str = "solution",
        answer_tags: bool = False,
        timeout: float = 0.5,
        batch_timeout: float | None = 60.0,
        num_workers: int | None = None,
        reject_restated: bool = True,
    ):
        super().__init__()
        if not isinstance(solution_column, str) or not solution_column:
            raise ValueError(f"solution_column must be a non-empty column name, got {solution_column!r}")
        if not timeout > 0:
            raise ValueError(f"timeout must be a positive number of seconds, got {timeout!r}")
        if batch_timeout is not None and not batch_timeout > 0:
            raise ValueError(f"batch_timeout must be a positive number of seconds or None, got {batch_timeout!r}")
        if num_workers is None:
            num_workers = default_num_workers()
        if not isinstance(num_workers, int) or num_workers < 0:
            raise ValueError(f"num_workers must be an int >= 0 (0 = in-process), got {num_workers!r}")
        self.solution_column = solution_column
        self.answer_tags = bool(answer_tags)
        self.timeout = float(timeout)
        self.batch_timeout = None if batch_timeout is None else float(batch_timeout)
        self.num_workers = num_workers
        self.reject_restated = bool(reject_restated)

    def score(self, prompts: list, completions: list, columns: dict[str, Any], counts: Counter[str]) -> list[float | None]:
        golds = self.golds(columns, "gold answers")
        tasks = [
            (str(gold) if gold is not None else "", *read_answer(completion, self.answer_tags))
            for completion, gold in zip(completions, golds, strict=True)
        ]
        outcomes: dict[tuple, Any] = {}  # each distinct task once
        for task in tasks:
            if task not in outcomes:
                outcomes[task] = fast_score(task)
        slow = [task for task, outcome in outcomes.items() if outcome is None]
        if slow:
            pool = shared_pool(self.num_workers, preload=[__name__])
            outcomes.update(zip(slow, pool.map(score_answer, slow, cpu_timeout=self.timeout, timeout=20 * self.timeout + 5,
                                               budget=self.batch_timeout)))
        rewards: list[float | None] = []
        for task in tasks:  # counters count completions, duplicates included
            outcome = outcomes[task]
            if isinstance(outcome, Failure):
                counts["timeouts" if outcome is Failure.TIMEOUT else "crashes"] += 1
                counts["pathological"] += outcome is Failure.TIMEOUT
                rewards.append(0.0)
            else:
                reward, counter = outcome
                if counter:
                    counts[counter] += 1
                rewards.append(reward)
        if self.reject_restated:
            for i, (gold, answers, boxed) in enumerate(tasks):
                if rewards[i] == 1.0 and gold_number(gold) is not None and restated(answers[-1], boxed, prompt_text(prompts[i])):
                    rewards[i] = 0.0
                    counts["restated"] += 1
        return rewards

    def final_answer(self, completion: object) -> str | None:
        """The final boxes after the reasoning (a multi-part answer's joined: see
        :func:`extract_answer`), else the tail of the answer region."""
        return extract_answer(completion, self.answer_tags)[0]

    def group_answers(self, questions: list[list[str | None]]) -> list[list[int | None]]:
        """cons@k groups: equivalent final answers share an id (:mod:`.voting`)."""
        from .voting import group_by_equivalence  # voting imports this module

        return group_by_equivalence(questions, self.num_workers)


