r"""``accuracy``: is the final answer the gold one, as a careful grader would decide? (R1's math
reward.) Golds are read as real datasets store them (bare LaTeX, ``$...$`` text, boxes, lists,
words); the prediction is the final boxes of the answer region. A multi-part gold needs every
part, a single gold takes the last box, words compare as normalised text
(:mod:`trl_r1_rewards.answers`) and mathematics is math-verify's call, in worker processes under
CPU deadlines (:mod:`trl_r1_rewards.parallel`). rewards/README.md, "accuracy", has the rules and
the costs. The reward's parts, each in its own module:

- :mod:`.extraction`: what a gold is (one answer, parts, words) and what a completion answered;
- :mod:`.equivalence`: whether two answers are the same (math-verify, parts as sets);
- :mod:`.fast_path`: plain numbers and pathological answers, settled without a worker;
- :mod:`.restated`: an expression copied from the question is not an answer;
- :mod:`.shims`: math-verify's calls quieted and parsed in two stages, scoped to our calls.

Their public functions are importable from here as well.
"""

from __future__ import annotations

import functools
from collections import Counter
from typing import Any

from .answers import is_prose, normalise_text, split_parts, stated_text
from .base import Reward
from .equivalence import answers_match, match_parts, parts_equal, verify_parsed, verify_text, verify_whole
from .extraction import extract_answer, gold_expression, parse_answer, parse_gold, read_answer, read_gold, unique_parts
from .fast_path import fast_score, gold_number, plain_number
from .parallel import Failure, default_num_workers, shared_pool
from .restated import restated
from .shims import check_two_stage_parsing, math_verify_call
from .text import prompt_text
from .voting import group_by_equivalence

__all__ = ["AccuracyReward", "answers_match", "extract_answer", "fast_score", "gold_number", "match_parts",
           "parse_answer", "parse_gold", "parts_equal", "plain_number", "read_answer", "read_gold", "restated",
           "score_answer", "warm_up"]


@functools.lru_cache(maxsize=16384)
def score_answer(task: tuple[str, tuple[str, ...] | None, bool]) -> tuple[float | None, str | None]:
    """Score one ``(gold, answers, boxed)`` task (as :func:`read_answer` gives it) -> ``(reward,
    counter or None)``. Runs in a worker; module-level so that it pickles.
    """
    with math_verify_call():
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
            return verify_text(", ".join(expected), answers[-1])
        predicted = unique_parts(part for box in answers for part in split_parts(box))
        if len(predicted) == len(expected):
            return float(match_parts(list(expected), predicted)), None
        # As many parts written otherwise ("2, 3" as the pair "(2, 3)"): math-verify on the
        # whole, which never takes a set for one of its members.
        return verify_whole(", ".join(expected), ", ".join(answers)), None
    answer = answers[-1]  # one answer: R1's rule, the last box wins
    if boxed and is_prose(answer):  # words against mathematics: never a product of letters
        return float(parts_equal(gold_expression(gold) or gold, answer)), None
    gold_parsed = parse_gold(gold)
    if boxed and answer == gold_expression(gold) and any(isinstance(p, str) and p.strip() for p in gold_parsed):
        # The same string parses to the same list, and verify() then matches its string form.
        return 1.0, None
    predicted = parse_answer(answer, boxed)
    if not predicted:
        return 0.0, "unparseable_answers"
    return float(verify_parsed(gold_parsed, predicted)), None


# What warms a worker up before its first item: a parse of each kind of answer fills the
# parser's prediction tables (the first parse in a fresh process costs ~0.3 s).
_WARM_UP = [(r"\frac{1}{2}", (r"\dfrac{2}{4}",), True), ("(1,2)", ("(1, 2)",), True), (r"\{1,2\}", (r"\{2, 1\}",), True),
            (r"x^2+1", ("1 + x^2",), True), (r"[1, 3)", ("[1,3)",), True), (r"2\sqrt{3}", (r"\sqrt{12}",), True),
            ("y=2x+3", ("y = 3 + 2x",), True), ("5", ("so it is $5$",), False)]


def warm_up() -> None:
    """Score a few answers of each kind once (a worker runs this before reporting ready)."""
    with math_verify_call():  # the prediction mode the items are parsed in
        for task in _WARM_UP:
            _score_answer(*task)


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
        check_two_stage_parsing()  # outside the versions it was written for: a warning, then slower parsing

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
        return group_by_equivalence(questions, self.num_workers)


