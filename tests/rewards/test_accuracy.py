r"""accuracy: right where TRL's accuracy_reward is wrong, never raises, bounded in time."""

import time

import pytest
from trl.rewards import accuracy_reward

from trl_r1_rewards import load_reward
from trl_r1_rewards import accuracy as accuracy_module
from trl_r1_rewards.accuracy import AccuracyReward


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


def _slow_score(task):
    if task[1] == "slow":
        time.sleep(60)
    return accuracy_module.score_answer(task)


def test_timeout_scores_zero_and_the_batch_completes(monkeypatch):
    """A worker stuck past its deadline is killed and replaced; the other items still score."""
    monkeypatch.setattr(accuracy_module, "score_answer", _slow_score)
    reward = AccuracyReward(timeout=1.0, num_workers=2)
    metrics = {}
    start = time.monotonic()
    rewards = reward(["q"] * 3, [r"\boxed{slow}", r"\boxed{5}", r"\boxed{6}"], solution=["5"] * 3, log_metric=metrics.__setitem__)
    assert time.monotonic() - start < 10
    assert rewards == [0.0, 1.0, 0.0]
    assert metrics["accuracy/timeouts"] == 1.0
    monkeypatch.undo()
    after = {}
    assert reward(["q"], [r"\boxed{5}"], solution=["5"], log_metric=after.__setitem__) == [1.0], after  # pool lives on


@pytest.mark.parametrize("options", [{"timeout": 0}, {"num_workers": -1}, {"solution_column": ""}])
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
