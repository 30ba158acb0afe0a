r"""accuracy: right where TRL's accuracy_reward is wrong, never raises, bounded in time."""

import threading
import time

import pytest
import scoring_helpers
from trl.rewards import accuracy_reward
from trl_r1_rewards import accuracy as accuracy_module
from trl_r1_rewards import extraction, shims
from trl_r1_rewards import load_reward
from trl_r1_rewards.accuracy import AccuracyReward
from trl_r1_rewards.parallel import shared_pool


@pytest.fixture(scope="module")
def accuracy():
    return load_reward("accuracy", timeout=5.0)


def as_chat(text):
    return [{"role": "assistant", "content": text}]


# Golds as datasets store them, and an equal answer written another way.
DATASET_GOLDS = [
    (r"\sqrt{3}", r"\sqrt 3"),
    (r"2\pi", r"2 \pi"),
    (r"(1,2)", r"(1, 2)"),
    (r"x^2+1", r"1 + x^2"),
    (r"\frac12", r"0.5"),
    ("C", r"\text{(C)}"),
    ("5", "5"),
    (r"\frac{1}{3}", r"\frac{2}{6}"),
    ("0.5", r"\frac{1}{2}"),
    (r"\boxed{\frac{\sqrt{3}}{2}}", r"\frac{\sqrt3}{2}"),
    (r"3\sqrt{2}", r"\sqrt{18}"),
]


@pytest.mark.parametrize("gold, answer", DATASET_GOLDS)
def test_dataset_style_golds(accuracy, gold, answer):
    right = as_chat(rf"<think>work</think> The answer is $\boxed{{{answer}}}$.")
    wrong = as_chat(r"<think>work</think> The answer is $\boxed{17}$.")
    assert accuracy(["q", "q"], [right, wrong], solution=[gold, gold]) == [1.0, 0.0]


@pytest.mark.parametrize(
    "gold, answer, trl_says",
    [
        (r"\sqrt{3}", r"\sqrt{3}", None),  # TRL cannot parse a bare \sqrt gold: skips the example
        (r"(1,2)", r"(1,2)", None),
        (r"\frac12", r"\frac{1}{2}", None),
        (r"2\pi", r"2\pi", 0.0),  # TRL reads the gold as 2
        (r"3\sqrt{2}", r"3\sqrt{2}", 0.0),  # TRL reads the gold as 3 ...
        (r"3\sqrt{2}", "3", 1.0),  # ... so it rewards a wrong answer
    ],
)
def test_right_where_trl_is_wrong(accuracy, gold, answer, trl_says):
    completion = as_chat(rf"<think>...</think> $\boxed{{{answer}}}$")
    assert accuracy_reward([completion], [gold]) == [trl_says]
    assert accuracy(["q"], [completion], solution=[gold]) == [float(answer != "3")]


def test_prediction_comes_from_the_answer_region(accuracy):
    completions = [
        r"<think>maybe \boxed{4}</think> no: \boxed{5}",  # last box after </think>
        r"<think>it is \boxed{5}",  # never answered
        r"<think>a</think>It is 5.",  # no box: the region's text
        r"\boxed{5}",  # no think tags: everything is answer
    ]
    assert accuracy(["q"] * 4, completions, solution=["5"] * 4) == [1.0, 0.0, 1.0, 1.0]
    tagged = AccuracyReward(answer_tags=True)
    assert tagged(["q"] * 2, ["<think>a</think><answer>5</answer>", "<think>a</think>5"], solution=["5", "5"]) == [1.0, 0.0]


QUESTION = [{"role": "system", "content": "Think, then box the answer."}, {"role": "user", "content": "What is 30 - 5?"}]


@pytest.mark.parametrize(
    "completion, gold, copied",
    [
        ("30 - 5", "25", True),  # the hack a policy found: the question's expression, worth 25 to math-verify
        (r"<think>hm</think> The answer is $\boxed{30-5}$.", "25", True),
        ("<think>hm</think> So it is 30 -5.", r"\boxed{25}", True),
        ("<think>30 - 5 = 25</think> 30 - 5 = 25", "25", False),  # evaluated: the value after "=" counts
        (r"</think> \boxed{25}", "25", False),
        (r"</think> \boxed{5 \times 5}", "25", False),  # an expression of its own, not the question's
        (r"</think> \boxed{0 - 5}", "-5", False),  # token for token: "0 - 5" is not in "30 - 5"
    ],
)
def test_an_expression_copied_from_the_question_is_not_an_answer(accuracy, completion, gold, copied):
    metrics = {}
    assert accuracy([QUESTION], [completion], solution=[gold], log_metric=metrics.__setitem__) == [0.0 if copied else 1.0]
    assert metrics["accuracy/restated"] == float(copied)
    lenient = load_reward("accuracy", reject_restated=False, num_workers=0)
    assert lenient([QUESTION], [completion], solution=[gold]) == [1.0]


def test_copying_is_judged_only_against_plain_number_golds(accuracy):
    # A symbolic gold keeps math-verify's verdict; a number copied verbatim is the gold itself.
    assert accuracy(["Simplify $\\frac{2}{4}$."], [r"</think> \boxed{\frac{2}{4}}"], solution=[r"\frac{1}{2}"]) == [1.0]
    assert accuracy(["Is it 7 or 8?"], [r"</think> \boxed{7}"], solution=["7"]) == [1.0]
    assert accuracy(["Compute $2^{10}$."] * 2, [r"</think> \boxed{2^{10}}", r"</think> \boxed{1024}"], solution=["1024"] * 2) == [0.0, 1.0]


def test_unparseable_gold_is_skipped_and_counted(accuracy):
    metrics = {}
    rewards = accuracy(["q"] * 2, [r"\boxed{5}", "x"], solution=["", r"\text{}"], log_metric=metrics.__setitem__)
    assert rewards == [None, None]
    assert metrics["accuracy/unparseable_golds"] == 2.0 and metrics["accuracy/timeouts"] == 0.0


HOSTILE = ["", None, "\ud800\\boxed{5\ud800}", "<think>" + "a" * 1_000_000, "\\boxed{" + "{" * 100_000,
           "</think>" + "\\boxed{" * 50_000 + "5" + "}" * 50_000, "x" * 1_000_000 + "\\boxed{5}", [{"role": "assistant", "content": None}],
           [{"role": "assistant", "content": [{"type": "text", "text": "\\boxed{5}"}]}], 42]


def test_hostile_completions_never_raise(accuracy):
    metrics = {}
    start = time.monotonic()
    rewards = accuracy(["q"] * len(HOSTILE), HOSTILE, solution=["5"] * len(HOSTILE), log_metric=metrics.__setitem__)
    assert time.monotonic() - start < 30
    assert rewards[-4] == 1.0 and rewards[-2] == 1.0
    assert all(r in (0.0, 1.0) for r in rewards)
    assert metrics["accuracy/missing_answers"] >= 1


def test_a_stuck_worker_is_killed_at_the_wall_deadline_and_the_batch_completes(monkeypatch):
    """An item stuck where the CPU deadline cannot fire (asleep, or in C) meets the wall-clock
    one: its worker is killed and replaced; the other items still score. The gold is not a
    plain number, so every answer goes through the worker pool."""
    assert accuracy_module.fast_score((r"\frac{1}{2}", ("0.5",), True)) is None  # not settled in-process
    monkeypatch.setattr(accuracy_module, "score_answer", scoring_helpers.stuck_on_cue)
    reward = AccuracyReward(timeout=0.1, num_workers=2)  # killed after 20 * 0.1 + 5 s
    metrics = {}
    start = time.monotonic()
    rewards = reward(["q"] * 3, [r"\boxed{stuck}", r"\boxed{0.5}", r"\boxed{\frac{1}{3}}"], solution=[r"\frac{1}{2}"] * 3,
                     log_metric=metrics.__setitem__)
    assert time.monotonic() - start < 15
    assert rewards == [0.0, 1.0, 0.0]
    assert metrics["accuracy/timeouts"] == 1.0 and metrics["accuracy/pathological"] == 1.0
    monkeypatch.undo()
    # The pool lives on: the next call, on the same process-wide pool of 2 (one worker a replacement), scores.
    # At the default CPU budget: 0.1 s was once spent by a fresh worker's first fraction in CI (a timeout, 0.0).
    after = {}
    again = AccuracyReward(num_workers=2)
    assert again(["q"], [r"\boxed{\frac{2}{4}}"], solution=[r"\frac{1}{2}"], log_metric=after.__setitem__) == [1.0], after
    assert after["accuracy/timeouts"] == 0.0 and len(shared_pool(2, preload=[accuracy_module.__name__]).pids) == 2


@pytest.mark.parametrize("options", [{"timeout": 0}, {"num_workers": -1}, {"solution_column": ""}, {"batch_timeout": 0}])
def test_bad_options_fail_at_construction(options):
    with pytest.raises(ValueError):
        AccuracyReward(**options)


def test_missing_solution_column_is_a_clear_error(accuracy):
    with pytest.raises(KeyError, match="answer"):
        accuracy(["q"], ["\\boxed{1}"], answer=["1"])


def test_reward_pickles_and_accepts_trl_kwargs(accuracy):
    import pickle

    clone = pickle.loads(pickle.dumps(accuracy))
    assert clone(["q"], ["\\boxed{1}"], solution=["1"], trainer_state=None, log_extra=None, completion_ids=[[1]]) == [1.0]
    assert clone.__name__ == "accuracy"


# --- fast paths: plain numbers decided in the calling process, duplicates scored once --------


def _math_verify_verdict(task):
    """What math-verify decides, as it comes (no fast path, no cache, default LL parsing)."""
    return accuracy_module._score_answer(*task)


@pytest.mark.parametrize(
    "gold, answer, expected",
    [
        ("5", "5", 1.0), ("5", "5.0", 1.0), ("5", "05", 1.0), ("05", "5", 1.0), ("5.0", "5", 1.0),
        ("5", "6", 0.0), ("5", "-5", 0.0), ("-5", "-5.0", 1.0), ("+5", "5", 1.0), ("0", "-0", 1.0),
        ("0.5", ".5", 1.0), ("0.5", "0.50", 1.0), ("-0.5", "-.5", 1.0), ("5", "0.05", 0.0), ("50", "0.5", 0.0),
        ("123456789012345678901234567890", "123456789012345678901234567890", 1.0),
        ("123456789012345678901234567890", "123456789012345678901234567891", 0.0),
        ("123456789012345678901234567890", "123456789012345678901234567890.0", 1.0),
        (r"\boxed{42}", "42", 1.0), ("$42$", "42", 1.0), ("42", "43", 0.0),
    ],
)
def test_plain_numbers_are_decided_without_math_verify(gold, answer, expected):
    assert accuracy_module.fast_score((gold, (answer,), True)) == (expected, None)
    assert _math_verify_verdict((gold, (answer,), True)) == (expected, None)


@pytest.mark.parametrize(
    "gold, answer",
    [
        ("1,000", "1000"),  # thousands separators are not plain
        ("1e3", "1000"), ("5.", "5"), (r"\frac12", "0.5"), ("5", r"\boxed{5}"), ("5", "5 apples"), ("5", "\u0665"),
        ("0.3333333", "0.3333334"),  # closer than math-verify's float rounding: it decides
        ("1" * 1001, "1" * 1000),  # longer than any gold: math-verify decides
    ],
)
def test_other_pairs_go_to_math_verify(gold, answer):
    assert accuracy_module.fast_score((gold, (answer,), True)) is None


def test_fast_path_agrees_with_math_verify_on_a_sample():
    import random

    rng = random.Random(0)

    def number():
        whole = str(rng.choice([0, 1, 7, 42, 100, 2024, rng.randrange(10**6), rng.randrange(10**25)]))
        kind = rng.random()
        if kind < 0.4:
            return whole
        if kind < 0.7:
            return f"{whole}.{rng.choice(['0', '00', '5', '25', '125', '333', str(rng.randrange(10**7))])}"
        return rng.choice(["-", "+", "0", ""]) + whole

    pairs = []
    for _ in range(150):
        gold = number()
        answer = rng.choice([gold, number(), gold + ".0", "-" + gold.lstrip("+-"), f"{gold}1", gold.lstrip("0") or "0"])
        pairs.append((gold, (answer,), rng.random() < 0.8))
    decided = 0
    for task in pairs:
        fast = accuracy_module.fast_score(task)
        if fast is not None:
            decided += 1
            assert fast == _math_verify_verdict(task), task
    assert decided >= 120  # the rest: unequal but closer than math-verify rounds


def test_missing_answer_to_a_number_gold():
    assert accuracy_module.fast_score(("5", None, False)) == (0.0, "missing_answers")
    assert _math_verify_verdict(("5", None, False)) == (0.0, "missing_answers")


def test_identical_answer_shortcut_agrees_with_math_verify():
    from math_verify import verify

    for gold in [r"\sqrt{3}", r"(1,2)", r"\{1,2\}", r"x^2+1", r"\frac{\pi}{3}", r"\text{Monday}", "C", r"(-\infty, 3]"]:
        parsed = accuracy_module.parse_gold(gold)
        assert accuracy_module.score_answer((gold, (gold,), True)) == (1.0, None)
        assert verify(parsed, extraction.parse_expression(gold), timeout_seconds=None)


class _CountingPool:
    """Stands in for the worker pool: scores in-process and records what it was sent."""

    def __init__(self):
        self.sent = []

    def map(self, fn, items, *, timeout, cpu_timeout=None, budget=None):
        items = list(items)
        self.sent.extend(items)
        return [fn(item) for item in items]


def test_duplicates_are_scored_once_and_numbers_never_reach_the_pool(monkeypatch):
    pool = _CountingPool()
    monkeypatch.setattr(accuracy_module, "shared_pool", lambda *args, **kwargs: pool)
    reward = AccuracyReward()
    right, wrong = r"<think>a</think> \boxed{\frac{\sqrt3}{2}}", r"<think>b</think> \boxed{\frac{1}{2}}"
    group = [right] * 8 + [wrong] * 7 + [r"<think>never closed"]
    gold = r"\frac{\sqrt{3}}{2}"
    metrics = {}
    rewards = reward(["q"] * 16, group, solution=[gold] * 16, log_metric=metrics.__setitem__)
    assert rewards == [1.0] * 8 + [0.0] * 8
    assert metrics["accuracy/missing_answers"] == 1.0  # counters count completions
    assert sorted(task[1][-1] for task in pool.sent if task[1]) == [r"\frac{1}{2}", r"\frac{\sqrt3}{2}"]
    assert len(pool.sent) == 3  # right, wrong, missing: once each

    pool.sent.clear()
    numbers = [r"</think> \boxed{12}", r"</think> \boxed{12.0}", r"</think> \boxed{-12}", "<think>unclosed", r"</think> 12"]
    assert reward(["q"] * 5, numbers, solution=["12"] * 5) == [1.0, 1.0, 0.0, 0.0, 1.0]
    assert pool.sent == []



# --- two-stage (SLL, then LL) parsing gives the parses of plain LL parsing ---------------------

PARSER_CORPUS = [
    r"(1,2)", r"(1, 2)", r"[1, 3]", r"(1,2]", r"(-\infty, 3]", r"(-\infty,-1)\cup(1,\infty)", r"\{1,2\}", r"\{2, 1, 3\}",
    r"\sqrt{3}", r"3\sqrt{2}", r"\sqrt[3]{2}", r"\frac12", r"\dfrac{3}{4}", r"\frac{\sqrt{3}}{2}", r"-\frac{\pi}{3}", r"2\pi",
    r"x^2+1", r"x^2+3x-4", r"2x-5", r"(x-1)(x+2)", r"\frac{x+1}{x-1}", r"y=2x+3", r"x=1,2,3", r"a=b=c", r"k=3",
    r"1 \le x \le 4", r"x<3", r"x \in [1,2]", r"\text{(C)}", r"\text{Monday}", "C", r"\textbf{(B)}",
    r"\begin{pmatrix}1\\2\end{pmatrix}", r"\begin{pmatrix}1&2\\3&4\end{pmatrix}", r"3,333", r"1,000,000", r"1, 2, 3",
    r"\frac{1}{2}, \frac{3}{4}", r"10\%", r"\$5", r"5!", r"\binom{5}{2}", r"\log_2 8", r"\sin x", r"e^{i\pi}",
    r"\infty", r"\emptyset", r"\pm 3", r"2^{10}", r"0.75", r"-12", r"\left(1,2\right)", r"\overline{AB}",
    r"\angle ABC", r"f(x)=x^2", r"\{(1,2),(3,4)\}", r"((1,2),3)", r"x^2+", r"\frac{1}{", r"(1,2", r"}{", "",
]


# --- multi-part and prose golds: what a careful grader accepts ----------------------------

GRADED = [
    # several parts: every one, as a set, from the final boxes
    (r"\(\boxed{1}\) and \(\boxed{-2}\)", r"\boxed{-2}", 0.0),  # half an answer is not an answer
    (r"\(\boxed{1}\) and \(\boxed{-2}\)", r"$\boxed{-2}$ and $\boxed{1}$", 1.0),
    (r"\(\boxed{1}\) and \(\boxed{-2}\)", r"\boxed{-2, 1}", 1.0),
    (r"\(\boxed{1}\) and \(\boxed{-2}\)", r"\boxed{1}, \boxed{-2}, \boxed{3}", 0.0),  # an extra part
    ("(2, 2), (6, 2)", r"\boxed{(2, 2)} \quad \text{and} \quad \boxed{(6, 2)}", 1.0),
    ("(2, 2), (6, 2)", r"\boxed{(6,2), (2,2)}", 1.0),
    ("(2, 2), (6, 2)", r"\boxed{(6, 2)}", 0.0),
    ("1, -2", r"$x = \boxed{1}$ or $x = \boxed{-2}$", 1.0),
    ("x = 1, x = -2", r"\boxed{x=-2, x=1}", 1.0),
    (r"\{1, 2\}", r"\boxed{\{2, 1\}}", 1.0),
    (r"\{1, 2\}", r"\boxed{1}, no, wait: \boxed{2}", 0.0),  # a correction: only its last box counts
    (r"\frac{1}{2}, \sqrt{2}", r"\boxed{\sqrt{2}, 0.5}", 1.0),  # parts compared as mathematics
    ("2, 3", r"\boxed{(2, 3)}", 1.0),  # the same two values as a pair: math-verify on the whole decides
    ("x = 1, y = 2", r"\boxed{(1, 2)}", 1.0),
    # one answer: R1's rule, the last box wins
    ("5", r"\boxed{3}, no wait, \boxed{5}", 1.0),
    ("5", r"\boxed{3}, \boxed{5}", 1.0),
    ("3", r"\boxed{3}, \boxed{5}", 0.0),
    ("(1, 2)", r"\boxed{(1,2)}", 1.0),
    # words: normalised text, never a product of one-letter symbols
    ("forty two", r"\boxed{two forty}", 0.0),
    ("Alice", r"\boxed{ecilA}", 0.0),
    ("stop", r"\boxed{pots}", 0.0),
    ("Alice", r"\boxed{\text{alice}}", 1.0),
    ("forty two", r"\boxed{\text{Forty-Two}}", 1.0),
    ("forty two", r"\boxed{42}", 1.0),  # a number in words is that number
    ("42", r"\boxed{\text{forty-two}}", 1.0),
    (r"\text{Monday}", "So the answer is Monday.", 1.0),  # no box: what the text states
    ("No", r"\boxed{\text{No}}", 1.0),
    ("No", r"\boxed{Yes}", 0.0),
    ("5", r"\boxed{five}", 1.0),
    ("5", r"\boxed{vife}", 0.0),  # not a product of the symbols f, i, v, e either
    # mathematics stays symbolic
    ("x = 2", r"\boxed{2}", 1.0),
    (r"2\pi", r"\boxed{2 \pi}", 1.0),
    (r"\{1, 2\}", r"\boxed{\{2,1\}}", 1.0),
    (r"10\text{ cm}", r"\boxed{10}", 1.0),
]


@pytest.mark.parametrize("gold, answer, expected", GRADED)
def test_multi_part_and_prose_golds(accuracy, gold, answer, expected):
    assert accuracy(["q"], [as_chat(f"<think>work</think> {answer}")], solution=[gold]) == [expected]


def test_a_sentence_gold_is_not_gradable_and_is_counted(accuracy):
    metrics = {}
    rewards = accuracy(["q"] * 2, [r"\boxed{42}", "It is forty two."], solution=["It is forty two."] * 2,
                       log_metric=metrics.__setitem__)
    assert rewards == [None, None]
    assert metrics["accuracy/unparseable_golds"] == 2.0


# --- pathological answers: settled cheaply, counted, the rest of the batch unharmed ----------

PATHOLOGICAL = ["{" * 50 + "7" + "}" * 50, "\\frac{" * 300 + "1" + "}{2}" * 300, r"9^{9^{9}}", "1+" * 600 + "1"]


def test_pathological_answers_are_settled_before_any_worker_and_counted(accuracy):
    normal = [(r"\frac{1}{2}", r"\dfrac{2}{4}", 1.0), (r"\sqrt{3}", r"\sqrt{3}", 1.0), ("(1,2)", "(2, 1)", 0.0), ("7", "7", 1.0)]
    golds = [g for g, _, _ in normal] + ["7"] * len(PATHOLOGICAL)
    completions = [rf"</think> \boxed{{{a}}}" for _, a, _ in normal] + [rf"</think> \boxed{{{a}}}" for a in PATHOLOGICAL]
    metrics = {}
    start = time.monotonic()
    rewards = accuracy(["q"] * len(golds), completions, solution=golds, log_metric=metrics.__setitem__)
    assert time.monotonic() - start < 10  # ~0.05 s warm; unbounded (hours, for 9^{9^{9}}) before
    assert rewards == [e for _, _, e in normal] + [0.0] * len(PATHOLOGICAL)
    assert metrics["accuracy/pathological"] == len(PATHOLOGICAL) and metrics["accuracy/timeouts"] == 0.0
    assert all(accuracy_module.fast_score(("7", (a,), True)) == (0.0, "pathological") for a in PATHOLOGICAL)


def test_an_answer_that_keeps_sympy_busy_is_dropped_at_its_cpu_deadline_and_the_worker_lives():
    """Short and shallow, so no cheap check catches them, but seconds of sympy each: the worker
    interrupts the item itself after ``timeout`` CPU seconds and takes the next one."""
    reward = AccuracyReward(timeout=0.3, num_workers=1)
    assert reward(["q"], [r"\boxed{\frac{3}{6}}"], solution=[r"\frac{1}{2}"]) == [1.0]
    pool = accuracy_module.shared_pool(1, preload=[accuracy_module.__name__])
    workers = pool.pids
    busy = [r"(x+y+z+3)^{40}", r"\sin(\sin(\sin(\sin(\sin(\sin(\sin(\sin(3))))))))"]
    metrics = {}
    rewards = reward(["q"] * 3, [rf"\boxed{{{a}}}" for a in busy] + [r"\boxed{x^2+1}"], solution=[r"x^2+1"] * 3,
                     log_metric=metrics.__setitem__)
    assert rewards == [0.0, 0.0, 1.0]
    assert metrics["accuracy/pathological"] == 2.0 and metrics["accuracy/timeouts"] == 2.0 and metrics["accuracy/crashes"] == 0.0
    assert pool.pids == workers  # interrupted, not killed: no interpreter to restart


def _fractions(seed: int, n: int = 8) -> tuple[list[str], list[str]]:
    """``n`` distinct fraction golds and their right answers written otherwise (workers parse them)."""
    golds = [rf"\frac{{{seed * 100 + i}}}{{7}}" for i in range(n)]
    return golds, [rf"</think> \boxed{{\dfrac{{{2 * (seed * 100 + i)}}}{{14}}}}" for i in range(n)]


def test_a_worker_killed_mid_batch_costs_its_item_only_and_the_next_call_is_as_fast(monkeypatch, tmp_path):
    """A real SIGKILL (what the OOM killer sends) on the worker busy with one item: that item
    scores 0.0 (``accuracy/crashes``), the rest of the batch is right, the pool is whole again
    when the call returns, and the next call takes no longer than one before the kill."""
    import os
    import signal
    import threading

    monkeypatch.setattr(accuracy_module, "score_answer", scoring_helpers.hang_on_cue)
    reward = AccuracyReward(num_workers=2)
    pool = accuracy_module.shared_pool(2, preload=[accuracy_module.__name__])
    golds, completions = _fractions(1)
    assert reward(["q"] * 8, completions, solution=golds) == [1.0] * 8  # both workers up and warm
    golds, completions = _fractions(2)
    start = time.monotonic()
    assert reward(["q"] * 8, completions, solution=golds) == [1.0] * 8
    before = time.monotonic() - start

    pid_file = tmp_path / "pid"
    golds, completions = _fractions(3)
    completions[3] = rf"</think> \boxed{{hang:{pid_file}}}"
    killed = []

    def kill_the_busy_worker():
        deadline = time.monotonic() + 30
        while not pid_file.exists() or not pid_file.read_text():
            assert time.monotonic() < deadline
            time.sleep(0.01)
        killed.append(int(pid_file.read_text()))
        os.kill(killed[0], signal.SIGKILL)

    killer = threading.Thread(target=kill_the_busy_worker)
    killer.start()
    metrics = {}
    rewards = reward(["q"] * 8, completions, solution=golds, log_metric=metrics.__setitem__)
    killer.join()
    assert rewards == [1.0] * 3 + [0.0] + [1.0] * 4
    assert metrics["accuracy/crashes"] == 1.0 and metrics["accuracy/timeouts"] == 0.0
    assert killed[0] not in pool.pids and len(pool.pids) == 2

    golds, completions = _fractions(4)
    start = time.monotonic()
    assert reward(["q"] * 8, completions, solution=golds) == [1.0] * 8
    after = time.monotonic() - start
    assert after < 3 * before + 0.5, (before, after)  # a worker still starting would cost ~1-3 s here


# --- two-stage parsing (shims.py): our calls only, undone after, same parses ---------------


def test_two_stage_parsing_applies_to_our_calls_only_and_is_undone_after():
    from antlr4.atn.PredictionMode import PredictionMode
    from latex2sympy2_extended.latex2sympy2 import _Latex2Sympy

    assert shims.two_stage_parsing_applies() is None  # the installed versions are the written-for ones
    original = _Latex2Sympy.create_parser
    assert _Latex2Sympy().create_parser("1")._interp.predictionMode == PredictionMode.LL  # TRL's calls: as ever
    with shims.math_verify_call():
        assert _Latex2Sympy().create_parser("1")._interp.predictionMode == PredictionMode.SLL
        elsewhere = []  # another thread's parser, made while our call runs: latex2sympy's own
        thread = threading.Thread(target=lambda: elsewhere.append(_Latex2Sympy().create_parser("1")._interp.predictionMode))
        thread.start()
        thread.join()
        assert elsewhere == [PredictionMode.LL]
    assert _Latex2Sympy.create_parser is original
    assert "two_stage_parsing" in shims.APPLIED


def test_two_stage_parsing_off_outside_the_written_for_version_warns_and_parses_as_latex2sympy(monkeypatch):
    from latex2sympy2_extended.latex2sympy2 import _Latex2Sympy

    monkeypatch.setattr(shims, "WRITTEN_FOR", {**shims.WRITTEN_FOR, "latex2sympy2_extended": "0.9.0"})
    monkeypatch.setattr(shims, "APPLIED", set())
    shims.two_stage_parsing_applies.cache_clear()
    try:
        with pytest.warns(RuntimeWarning, match=r"written for latex2sympy2_extended 0\.9\.0, found 1\.11"):
            reward = AccuracyReward(num_workers=0)
        original = _Latex2Sympy.create_parser
        with shims.math_verify_call():
            assert _Latex2Sympy.create_parser is original
        completions = [r"</think> \boxed{\sqrt{12}}", r"</think> \boxed{(2, 1)}"]
        assert reward(["q"] * 2, completions, solution=[r"2\sqrt3", "(1,2)"]) == [1.0, 0.0]
    finally:
        shims.two_stage_parsing_applies.cache_clear()


def test_two_stage_parsing_gives_the_same_parses():
    corpus = list(PARSER_CORPUS) + [x for pair in DATASET_GOLDS for x in pair]
    corpus += [x for gold, answer, _ in GRADED for x in (gold, answer)]
    for latex in corpus:
        expected = scoring_helpers.latex2sympy_outcome(latex)
        with shims.math_verify_call():
            assert scoring_helpers.latex2sympy_outcome(latex) == expected, latex
