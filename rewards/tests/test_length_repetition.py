"""`overlong`, `cosine_length` and `repetition`: TRL's functions under our conventions. Each is
compared with TRL's on the same inputs; `cosine_length` takes its correctness from our grader."""

from __future__ import annotations

import pickle
import random

import pytest
from trl.rewards import get_cosine_scaled_reward, get_repetition_penalty_reward, get_soft_overlong_punishment
from trl_r1_rewards import available_rewards, gold_option, load_reward, reward_factory

NAMES = ("overlong", "cosine_length", "repetition")


def random_ids(seed: int, count: int = 40, longest: int = 140) -> list[list[int]]:
    rng = random.Random(seed)
    return [[rng.randrange(6) for _ in range(rng.randrange(longest))] for _ in range(count)]


def test_the_three_rewards_are_registered_by_name():
    assert set(NAMES) <= set(available_rewards())
    assert [load_reward(name).__name__ for name in NAMES] == list(NAMES)
    assert gold_option(reward_factory("cosine_length")) == "solution_column"


@pytest.mark.parametrize("seed", range(3))
def test_overlong_equals_trls_soft_overlong_punishment(seed):
    ids = random_ids(seed)
    ours = load_reward("overlong", max_completion_length=100, buffer=30)
    trl = get_soft_overlong_punishment(max_completion_len=100, soft_punish_cache=30)
    assert ours(["q"] * len(ids), ["c"] * len(ids), completion_ids=ids) == trl(ids)


@pytest.mark.parametrize("ngram_size, max_penalty", [(3, -1.0), (1, -0.5), (5, -2.0)])
def test_repetition_equals_trls_repetition_penalty(ngram_size, max_penalty):
    ids = random_ids(ngram_size, longest=30)
    ours = load_reward("repetition", ngram_size=ngram_size, max_penalty=max_penalty)
    trl = get_repetition_penalty_reward(ngram_size=ngram_size, max_penalty=max_penalty)
    assert ours(["q"] * len(ids), ["c"] * len(ids), completion_ids=ids) == trl(ids)


# Answers both graders read alike: boxed, after the reasoning, right and wrong.
AGREED = [r"<think>1/3</think> \boxed{\frac{1}{3}}", r"\boxed{\frac{1}{2}}", r"so $\boxed{0.5}$", r"\boxed{7}",
          r"The answer is $\boxed{\sqrt{2}}$.", r"\boxed{2\pi}", r"\boxed{\dfrac{2}{4}}", r"\boxed{10}"]
AGREED_GOLDS = [r"\frac{1}{3}", r"\frac{1}{3}", r"\frac{1}{2}", "8", r"$\sqrt{2}$", r"$2\pi$", r"\frac{1}{2}", "12"]


@pytest.mark.parametrize("options", [{}, {"max_length": 20, "min_value_wrong": -2.0, "max_value_wrong": -0.25,
                                           "min_value_correct": 0.25, "max_value_correct": 2.0}])
def test_cosine_length_equals_trls_cosine_scaled_reward_where_the_graders_agree(options):
    ids = random_ids(7, count=len(AGREED), longest=1500 if not options else 30)
    ours = load_reward("cosine_length", grader_options={"num_workers": 0}, **options)
    trl = get_cosine_scaled_reward(**({"max_len": 1000} | {k.replace("max_length", "max_len"): v for k, v in options.items()}))
    messages = [[{"role": "assistant", "content": c}] for c in AGREED]
    expected = trl(messages, AGREED_GOLDS, ids)
    assert ours(["q"] * len(AGREED), messages, solution=AGREED_GOLDS, completion_ids=ids) == expected
    assert sum(e > 0 for e in expected) == 5  # both kinds of answer are in the comparison


def test_cosine_length_grades_with_our_accuracy_not_trls():
    """TRL's grader takes the first box anywhere (here the reasoning's); ours the answer after it;
    an answer copied from the question is wrong for ours (`reject_restated`)."""
    completions = [r"<think>maybe \boxed{2}</think> \boxed{3}", r"\boxed{30 - 5}"]
    golds, prompts, ids = ["3", "25"], ["q", "What is 30 - 5?"], [[1] * 10, [1] * 10]
    trl = get_cosine_scaled_reward(max_len=100)([[{"content": c}] for c in completions], golds, ids)
    ours = load_reward("cosine_length", max_length=100, grader_options={"num_workers": 0})
    rewards = ours(prompts, completions, solution=golds, completion_ids=ids)
    assert trl[0] < 0 < rewards[0] and trl[1] > 0 > rewards[1]


def test_cosine_length_options_reach_the_grader():
    reward = load_reward("cosine_length", max_length=100, solution_column="answer",
                         grader_options={"answer_tags": True, "num_workers": 0})
    completion = r"<think>\boxed{4}</think> <answer>\boxed{5}</answer>"
    assert reward(["q"], [completion], answer=["5"], completion_ids=[[1] * 100]) == [0.5]
    with pytest.raises(KeyError, match="'answer' column"):
        reward(["q"], [completion], solution=["5"], completion_ids=[[1]])


def test_an_ungradable_gold_is_none_and_counted():
    logged = {}
    reward = load_reward("cosine_length", grader_options={"num_workers": 0})
    rewards = reward(["q", "q"], [r"\boxed{1}", r"\boxed{1}"], solution=["It is forty two.", "1"],
                     completion_ids=[[1], [1]], log_metric=logged.__setitem__)
    assert rewards[0] is None and rewards[1] == pytest.approx(1.0, abs=1e-4)
    assert logged == {"cosine_length/ungraded": 1.0}


def test_counters_are_logged_every_call():
    logged = {}
    overlong = load_reward("overlong", max_completion_length=10, buffer=4)
    assert overlong(["q"] * 3, ["a"] * 3, completion_ids=[[1] * 6, [1] * 8, [1] * 11], log_metric=logged.__setitem__) \
        == [0.0, -0.5, -1.0]
    repetition = load_reward("repetition", ngram_size=2)
    repetition(["q"] * 2, ["a"] * 2, completion_ids=[[1, 2, 3], [4] * 9], log_metric=logged.__setitem__)
    assert logged == {"overlong/punished": 2.0, "overlong/over_limit": 1.0, "repetition/looping": 1.0}


@pytest.mark.parametrize("name, options, message", [
    ("overlong", {"buffer": 0}, "buffer must be a positive number of tokens"),
    ("overlong", {"max_completion_length": 100, "buffer": 200}, "buffer .* is longer than max_completion_length"),
    ("overlong", {"max_completion_length": "20480"}, "max_completion_length must be"),
    ("repetition", {"max_penalty": 0.5}, r"max_penalty must be a number <= 0"),
    ("repetition", {"ngram_size": 0}, "ngram_size must be"),
    ("cosine_length", {"max_length": 0}, "max_length must be"),
    ("cosine_length", {"max_value_correct": "high"}, "max_value_correct must be a number"),
    ("cosine_length", {"grader_options": {"answer_tag": True}}, r"grader_options: .*'answer_tag'.*answer_tags=False"),
    ("cosine_length", {"grader_options": "answer_tags"}, "grader_options must be a mapping"),
])
def test_bad_options_fail_at_load_naming_the_option(name, options, message):
    with pytest.raises(ValueError, match=message):
        load_reward(name, **options)


def test_an_unknown_grader_is_named():
    with pytest.raises(KeyError, match="Unknown reward 'acuracy'. Did you mean 'accuracy'"):
        load_reward("cosine_length", grader="acuracy")


@pytest.mark.parametrize("name", NAMES)
def test_without_token_ids_the_caller_is_told_to_pass_them(name):
    with pytest.raises(KeyError, match="completion_ids"):
        load_reward(name)(["q"], [r"\boxed{1}"], solution=["1"])


@pytest.mark.parametrize("name", NAMES)
def test_rewards_pickle(name):
    reward = load_reward(name, **({"grader_options": {"num_workers": 0}} if name == "cosine_length" else {}))
    clone = pickle.loads(pickle.dumps(reward))
    call = dict(prompts=["q"], completions=[r"\boxed{1}"], solution=["1"], completion_ids=[[1, 2, 1, 2]],
                trainer_state=None, log_extra=None)
    assert clone(**call) == reward(**call) and clone.__name__ == name


@pytest.mark.parametrize("installed, message", [(None, "TRL is not installed"), ("1.15.2", "TRL 1.15.2 is installed")])
def test_a_missing_or_old_trl_names_the_extra(monkeypatch, installed, message):
    from importlib.metadata import PackageNotFoundError

    from trl_r1_rewards import upstream

    def version(name):
        if installed is None:
            raise PackageNotFoundError(name)
        return installed

    monkeypatch.setattr(upstream, "version", version)
    with pytest.raises(ImportError, match=rf"{message}.*pip install 'trl-r1-rewards\[trl\]'"):
        load_reward("overlong")


def test_importing_the_package_imports_no_trl():
    import subprocess
    import sys

    code = "import sys, trl_r1_rewards; assert 'trl' not in sys.modules, 'trl imported'"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
