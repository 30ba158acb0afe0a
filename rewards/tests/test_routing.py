"""Per-row task routing: a reward applies to its tasks' rows only, and runs on nothing else."""

from __future__ import annotations

import pickle

import pytest
from trl_r1_rewards import load_reward
from trl_r1_rewards.routing import for_tasks

TASKS = ["reasoning", "general", "reasoning", "general", "general", None]


class Recorder:
    """A reward that remembers what it was called with and scores the completion's length."""

    __name__ = "recorder"

    def __init__(self):
        self.calls = []

    def __call__(self, prompts, completions, **kwargs):
        self.calls.append({"prompts": prompts, "completions": completions, **kwargs})
        if callable(kwargs.get("log_extra")):
            kwargs["log_extra"]("length", [len(c) for c in completions])
        return [float(len(c)) for c in completions]


def batch():
    n = len(TASKS)
    return dict(prompts=[f"q{i}" for i in range(n)], completions=["x" * (i + 1) for i in range(n)], task=TASKS,
                solution=[str(i) for i in range(n)], completion_ids=[[i] for i in range(n)], trainer_state="state")


def test_other_task_rows_get_none_and_never_reach_the_reward():
    inner = Recorder()
    reward = for_tasks(inner, ["general"])
    assert reward(**batch()) == [None, 2.0, None, 4.0, 5.0, None]
    [call] = inner.calls
    assert call["prompts"] == ["q1", "q3", "q4"] and call["completions"] == ["xx", "xxxx", "xxxxx"]
    assert call["solution"] == ["1", "3", "4"] and call["completion_ids"] == [[1], [3], [4]]
    assert call["task"] == ["general"] * 3 and call["trainer_state"] == "state"  # not per row: passed as is
    assert reward.__name__ == "recorder"


def test_all_or_none_of_the_rows():
    inner = Recorder()
    assert for_tasks(inner, ["code"])(**batch()) == [None] * len(TASKS) and inner.calls == []
    everything = for_tasks(inner, ["reasoning", "general"])(**{**batch(), "task": ["general"] * len(TASKS)})
    assert everything == [1.0, 2.0, 3.0, 4.0, 5.0, 6.0] and len(inner.calls[0]["prompts"]) == len(TASKS)


def test_logged_extra_columns_are_put_back_in_place():
    extra = {}
    for_tasks(Recorder(), "reasoning")(**batch(), log_extra=lambda column, values: extra.__setitem__(column, values))
    assert extra == {"length": [1, None, 3, None, None, None]}


def test_missing_task_column_and_bad_tasks_are_errors():
    with pytest.raises(KeyError, match="'task' column"):
        for_tasks(Recorder(), ["general"])(prompts=["q"], completions=["a"])
    for bad in ([], [""], [3]):
        with pytest.raises(ValueError, match="tasks"):
            for_tasks(Recorder(), bad)


def test_routed_rewards_pickle():
    reward = for_tasks(load_reward("format"), ["reasoning"])
    copy = pickle.loads(pickle.dumps(reward))
    assert copy(prompts=["q", "q"], completions=["<think>a</think><answer>1</answer>"] * 2, task=["reasoning", "x"]) == [1.0, None]


def test_a_model_based_reward_runs_its_model_on_its_rows_only(tiny_classifier):
    safety = load_reward("safety", model=str(tiny_classifier), batch_size=64)
    routed = for_tasks(safety, ["general"])
    seen = []
    b = batch()
    metrics = {}
    routed(**b, log_metric=lambda name, value: metrics.__setitem__(name, value))  # loads the model
    safety._model.register_forward_hook(lambda module, args, kwargs, out: seen.append(kwargs["input_ids"].shape[0]),
                                        with_kwargs=True)
    scores = routed(**b)
    assert seen == [3]  # one forward pass over the three general rows
    assert [s is None for s in scores] == [True, False, True, False, False, True]
    alone = safety(prompts=["q1", "q3", "q4"], completions=["xx", "xxxx", "xxxxx"])
    assert [s for s in scores if s is not None] == pytest.approx(alone, abs=1e-6)
    assert metrics["safety/truncated"] == 0.0 and "safety/unsafe" in metrics
