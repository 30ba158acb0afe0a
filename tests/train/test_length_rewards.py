"""The length-shaping rewards in training: in plain TRL's `GRPOTrainer` and in a recipe, loaded by name;
`overlong`'s limit is the recipe's."""

from __future__ import annotations

import json

import pytest
from helpers import CPU_TRAINING, run_recipe, tiny_recipe
from trl_r1_rewards import load_reward

from trl_r1.recipe import RecipeError, load_recipe

SHAPING = [{"name": "overlong", "kwargs": {"buffer": 4}}, {"name": "cosine_length", "kwargs": {"max_length": 8}},
           "repetition"]


def test_a_recipe_trains_with_the_length_rewards(tiny_model, tmp_path):
    run_recipe(tiny_recipe(tiny_model, tmp_path / "out", max_steps=1, rewards=["accuracy", *SHAPING]))
    (row,) = [json.loads(line) for line in (tmp_path / "out" / "metrics.jsonl").read_text().splitlines()
              if "rewards/overlong/mean" in line]
    assert {"rewards/cosine_length/mean", "rewards/repetition/mean", "overlong/punished", "cosine_length/ungraded",
            "repetition/looping"} <= set(row)


def test_overlongs_limit_follows_the_recipes_and_a_different_one_is_refused(tmp_path):
    values = tiny_recipe("/nonexistent/model", tmp_path, rewards=SHAPING)
    (overlong, *_) = load_recipe(None, ["--max_completion_length", "12"], values=values).configs[1].reward_specs
    assert overlong.kwargs == {"buffer": 4, "max_completion_length": 12}
    assert values["rewards"][0]["kwargs"] == {"buffer": 4}  # the recipe as written (saved beside the run)
    values["rewards"] = [{"name": "overlong", "kwargs": {"max_completion_length": 16}}]
    with pytest.raises(RecipeError, match="overlong's max_completion_length is 16 tokens but the recipe's "
                                          "max_completion_length is 8"):
        load_recipe(None, values=values)


def test_plain_trl_trains_with_the_rewards_loaded_by_name(tiny_model, tmp_path):
    """`GRPOTrainer` of TRL itself, no trl_r1: the rewards get TRL's completion_ids and their
    counters reach TRL's logs."""
    from datasets import Dataset
    from trl import GRPOConfig, GRPOTrainer

    args = GRPOConfig(output_dir=str(tmp_path), num_generations=4, per_device_train_batch_size=4, max_completion_length=8,
                      max_steps=1, logging_steps=1, **CPU_TRAINING)
    dataset = Dataset.from_list([{"prompt": f"What is {i} + 1?", "solution": str(i + 1)} for i in range(4)])
    rewards = [load_reward("overlong", max_completion_length=8, buffer=4),
               load_reward("cosine_length", max_length=8, grader_options={"num_workers": 0}),
               load_reward("repetition")]
    trainer = GRPOTrainer(model=str(tiny_model), reward_funcs=rewards, args=args, train_dataset=dataset)
    trainer.train()
    (logged,) = [row for row in trainer.state.log_history if "rewards/overlong/mean" in row]
    assert logged["rewards/overlong/mean"] < 0  # random tokens run to the 8-token limit
    assert {"rewards/cosine_length/mean", "rewards/repetition/mean", "overlong/over_limit"} <= set(logged)
