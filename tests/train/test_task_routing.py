"""Stage 4's reward routing: reasoning rows get rule-based rewards, general rows model-based ones,
in the same batch, with the model-based reward scheduled for the last steps only."""

from __future__ import annotations

import json
import math
from types import SimpleNamespace

import pandas as pd
import pytest
from helpers import run_cli, tiny_recipe, write_recipe
from trl_r1_rewards import ForTasks, ScheduledReward

from trl_r1.recipe import load_recipe
from trl_r1.train.config import RewardSpec
from trl_r1.train.trainer import build_rewards

GOOD = "<think>a</think><answer>1</answer>"


def test_routing_inside_the_schedule():
    [reward] = build_rewards([RewardSpec.parse({"name": "format", "tasks": "general", "start_step": -2,
                                                 "kwargs": {"template": "zero"}})])
    assert isinstance(reward, ScheduledReward) and isinstance(reward.reward, ForTasks)
    assert reward.__name__ == reward.reward.__name__ == "format"
    batch = dict(prompts=["q"] * 3, completions=[GOOD] * 3, task=["general", "reasoning", "general"])
    early, late = (SimpleNamespace(global_step=s, max_steps=10) for s in (7, 8))
    assert reward(**batch, trainer_state=early) == [None, None, None]
    assert reward(**batch, trainer_state=late) == [1.0, None, 1.0]
    [unrouted] = build_rewards([RewardSpec.parse("format")])
    assert not isinstance(unrouted, (ScheduledReward, ForTasks))


def write_mixed(path, n: int = 8):
    """Reasoning rows (arithmetic with a solution) and general rows (no solution), a `task` column."""
    rows = []
    for i in range(n):
        rows.append({"problem": f"What is {i} + {i + 3}?", "solution": str(2 * i + 3), "task": "reasoning"})
        rows.append({"problem": f"Say something kind about the fox number {i}.", "solution": None, "task": "general"})
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


@pytest.fixture(scope="module")
def mixed_run(tiny_model, tiny_classifier, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("mixed")
    data = write_mixed(tmp / "mixed.jsonl")
    recipe = tiny_recipe(
        tiny_model, tmp / "out", dataset_name=str(data), max_steps=3, log_completions=True,
        num_generations=2, per_device_train_batch_size=8, max_train_samples=None, max_completion_length=12,
        rewards=[
            {"name": "accuracy", "tasks": ["reasoning"]},
            {"name": "safety", "kwargs": {"model": str(tiny_classifier), "batch_size": 4}, "tasks": ["general"],
             "start_step": -1},
        ],
    )
    run_cli(str(write_recipe(tmp / "recipe.yaml", recipe)))
    return tmp / "out"


def test_both_rewards_are_logged_safety_on_the_last_step_only(mixed_run):
    rows = [json.loads(line) for line in (mixed_run / "metrics.jsonl").read_text().splitlines()]
    rows = [row for row in rows if "reward" in row]
    assert [row["step"] for row in rows] == [1, 2, 3]
    assert all(row["rewards/accuracy/mean"] is not None for row in rows)
    assert [row["rewards/safety/mean"] is None for row in rows] == [True, True, False]
    assert 0 < rows[-1]["rewards/safety/mean"] < 1
    # General rows (no solution) never reach accuracy: it would count their golds as unparseable.
    assert all(row["accuracy/unparseable_golds"] == 0 for row in rows)
    assert rows[-1]["safety/truncated"] == 0


def test_each_row_is_scored_by_its_tasks_rewards(mixed_run):
    for step in (1, 2, 3):
        table = pd.read_parquet(mixed_run / "completions" / f"completions_{step:05d}.parquet")
        general = table["prompt"].map(lambda p: "kind" in str(p))
        assert general.any() and (~general).any(), "a step mixes both kinds of rows"
        assert table.loc[general, "accuracy"].map(math.isnan).all()
        assert not table.loc[~general, "accuracy"].map(math.isnan).any()
        safety = table["safety"].map(math.isnan)
        if step < 3:
            assert safety.all()
        else:
            assert safety[~general].all() and not safety[general].any()


def test_routed_reward_needs_the_task_column_and_known_tasks(tiny_model, tmp_path):
    plain = tiny_recipe(tiny_model, tmp_path / "a", rewards=[{"name": "accuracy", "tasks": ["reasoning"]}])
    recipe = load_recipe(None, values=plain)
    with pytest.raises(ValueError, match="'task' column, which the dataset does not have"):
        recipe.stage.run(recipe)
    data = write_mixed(tmp_path / "mixed.jsonl", n=2)
    typo = tiny_recipe(tiny_model, tmp_path / "b", dataset_name=str(data),
                       rewards=["accuracy", {"name": "format", "tasks": ["genral"]}])
    recipe = load_recipe(None, values=typo)
    with pytest.raises(ValueError, match=r"`tasks` of 'format' are \['genral'\].*\['general', 'reasoning'\]"):
        recipe.stage.run(recipe)
