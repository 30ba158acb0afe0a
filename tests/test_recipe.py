"""Recipe validation: every mistake fails before any model loads, naming the field."""

from __future__ import annotations

from pathlib import Path

import pytest

from trl_r1.recipe import RecipeError, load_recipe

REPO = Path(__file__).resolve().parents[1]
ALL_RECIPES = sorted(p for p in (REPO / "recipes").rglob("*.yaml") if "accelerate" not in p.parts)

# A model path that does not exist: if validation ever got as far as loading a model, the
# error would be about this path instead of the field under test.
BASE = {
    "stage": "grpo",
    "model_name_or_path": "/nonexistent/model",
    "dataset_name": "builtin:arithmetic",
    "output_dir": "/tmp/trl-r1-test-recipe",
    "use_cpu": True,
    "bf16": False,
    "report_to": "none",
}


def load(overrides=(), **values):
    return load_recipe(None, list(overrides), values={**BASE, **values})


@pytest.mark.parametrize("path", ALL_RECIPES, ids=lambda p: str(p.relative_to(REPO / "recipes")))
def test_every_shipped_recipe_validates(path):
    recipe = load_recipe(path, check_only=True)
    assert recipe.stage.name == recipe.values["stage"]


def test_recipes_exist():
    names = {str(p.relative_to(REPO / "recipes")) for p in ALL_RECIPES}
    assert {"zero.yaml", "tiny/zero.yaml", "tiny/pipeline.yaml", "r1/pipeline.yaml"} <= names
    r1 = {"stage1_cold_start", "stage2_reasoning_rl", "stage3_rejection_sampling", "stage3_sft", "stage4_all_scenarios"}
    assert {f"r1/{name}.yaml" for name in r1} <= names
    distill = {"qwen2.5-math-1.5b", "qwen2.5-math-7b", "qwen2.5-14b", "qwen2.5-32b", "llama-3.1-8b", "llama-3.3-70b-instruct"}
    assert {f"distill/{name}.yaml" for name in distill} <= names


@pytest.mark.parametrize("path", sorted((REPO / "recipes" / "accelerate").glob("*.yaml")), ids=lambda p: p.name)
def test_accelerate_configs_load(path):
    from accelerate.commands.config.config_args import ClusterConfig

    config = ClusterConfig.from_yaml_file(str(path))
    assert config.num_processes >= 1


def test_every_recipe_an_accelerate_command_names_exists():
    """Recipes say which accelerate config to launch them with; those configs exist."""
    import re

    for path in ALL_RECIPES:
        for config in re.findall(r"--config_file (\S+\.yaml)", path.read_text()):
            assert (REPO / config).is_file(), f"{path.name} names {config}, which does not exist"


def test_full_pipeline_stages_follow_the_paper():
    """recipes/r1/pipeline.yaml: stage 3's SFT starts from the base model on stage 3's samples, and
    stage 4's preference rewards are on for the last 400 steps only, on general prompts."""
    recipe = load_recipe(REPO / "recipes" / "r1" / "pipeline.yaml", check_only=True)
    stages = {entry["name"]: entry for entry in recipe.configs[0].stages}
    assert stages["sft"]["overrides"] == {"dataset_name": "${rejection_sampling.dataset}"}
    base = load_recipe(REPO / "recipes" / "r1" / "stage1_cold_start.yaml", check_only=True).configs[-1]
    sft = load_recipe(REPO / "recipes" / "r1" / "stage3_sft.yaml", check_only=True)
    assert sft.configs[-1].model_name_or_path == base.model_name_or_path and sft.configs[1].num_train_epochs == 2
    preference = [r for r in stages["all_scenarios"]["overrides"]["rewards"] if r["name"] in ("safety", "helpfulness")]
    assert len(preference) == 2 and all(r["start_step"] == -400 and r["tasks"] == ["general"] for r in preference)


def test_zero_recipe_follows_the_paper():
    recipe = load_recipe(REPO / "recipes/zero.yaml", check_only=True)
    _, args, _ = recipe.configs
    assert (args.learning_rate, args.beta, args.temperature, args.num_generations) == (3e-6, 0.001, 1.0, 16)
    assert (args.sync_ref_model, args.ref_model_mixup_alpha, args.ref_model_sync_steps) == (True, 1.0, 400)
    assert args.prompt_template == "zero" and args.use_vllm
    assert [s.name for s in args.reward_specs] == ["accuracy", "format"]


def test_valid_recipe_and_command_line_override():
    recipe = load(["--learning_rate", "0.5", "--max_steps", "7"], learning_rate=1e-5)
    script_args, args, model_args = recipe.configs
    assert args.learning_rate == 0.5 and args.max_steps == 7
    assert model_args.model_name_or_path == "/nonexistent/model"
    assert [s.name for s in args.reward_specs] == ["accuracy", "format"]


def test_yaml_scientific_notation_string_is_a_float():
    # PyYAML reads `3e-6` (no dot) as a string; the recipe still means a number.
    assert load(learning_rate="3e-6").configs[1].learning_rate == 3e-6


@pytest.mark.parametrize(
    "values, field",
    [
        ({"learnig_rate": 1e-5}, "learnig_rate"),  # typo
        ({"learning_rate": "fast"}, "learning_rate"),
        ({"max_steps": 1.5}, "max_steps"),
        ({"bf16": "maybe"}, "bf16"),
        ({"prompt_template": "qwen"}, "prompt_template"),
        ({"rewards": ["acuracy"]}, "acuracy"),
        ({"rewards": [{"name": "format", "kwargs": {"templat": "r1"}}]}, "templat"),
        ({"rewards": [{"name": "format", "wieght": 2}]}, "wieght"),
        ({"rewards": [{"name": "format", "start_step": "late"}]}, "start_step"),
        ({"rewards": [{"name": "format", "tasks": []}]}, "tasks"),
        ({"rewards": [{"name": "format", "tasks": [1]}]}, "tasks"),
        ({"rewards": [{"name": "format", "task": ["general"]}]}, "accepted: name, weight, kwargs, start_step, end_step, tasks"),
        ({"rewards": []}, "rewards"),
        ({"prompt_template": "zero", "system_prompt": "hi"}, "system_prompt"),
        ({"reward_weights": [1.0, 2.0], "rewards": [{"name": "accuracy", "weight": 3}, "format"]}, "reward_weights"),
        ({"dataset_name": None}, "dataset_name"),
    ],
)
def test_invalid_recipe_names_the_field(values, field):
    with pytest.raises(RecipeError) as error:
        load(**values)
    assert field in str(error.value)


def test_typo_gets_a_suggestion():
    with pytest.raises(RecipeError, match="Did you mean `learning_rate`"):
        load(learnig_rate=1e-5)


def test_unknown_reward_lists_available():
    with pytest.raises(RecipeError, match="accuracy.*format.*language_consistency"):
        load(rewards=["nope"])


def test_bad_reward_option_lists_accepted():
    with pytest.raises(RecipeError, match="Accepted options: .*template"):
        load(rewards=[{"name": "format", "kwargs": {"colour": "red"}}])


def test_missing_or_unknown_stage():
    with pytest.raises(RecipeError, match="stage"):
        load_recipe(None, values={k: v for k, v in BASE.items() if k != "stage"})
    with pytest.raises(RecipeError, match="unknown stage `rlhf`"):
        load(stage="rlhf")


def test_unknown_command_line_argument():
    with pytest.raises(RecipeError, match="--not_a_field"):
        load(["--not_a_field", "1"])


def test_missing_file_and_bad_yaml(tmp_path):
    with pytest.raises(RecipeError, match="no such recipe"):
        load_recipe(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("stage: grpo\n  learning_rate: [")
    with pytest.raises(RecipeError, match="not valid YAML"):
        load_recipe(bad)
    listy = tmp_path / "list.yaml"
    listy.write_text("- stage\n")
    with pytest.raises(RecipeError, match="mapping"):
        load_recipe(listy)


def test_reward_specs_weights_and_schedule():
    recipe = load(rewards=[
        "accuracy",
        {"name": "format", "weight": 0.5, "kwargs": {"template": "zero"}, "start_step": -400},
    ])
    args = recipe.configs[1]
    assert args.reward_weights == [1.0, 0.5]
    fmt = args.reward_specs[1]
    assert fmt.scheduled and fmt.start_step == -400 and fmt.kwargs == {"template": "zero"}
    assert not args.reward_specs[0].scheduled


def test_rewards_from_command_line_as_names_and_json():
    recipe = load(["--rewards", "accuracy", '{"name": "format", "weight": 2}'])
    assert [(s.name, s.weight) for s in recipe.configs[1].reward_specs] == [("accuracy", 1.0), ("format", 2.0)]


def test_recipe_as_it_ran_records_overrides():
    text = load(["--max_steps", "7"]).to_yaml()
    assert "stage: grpo" in text and text.endswith("# command-line overrides: --max_steps 7\n")
