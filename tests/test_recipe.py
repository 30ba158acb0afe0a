"""Recipe validation: every mistake fails before any model loads, naming the field."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest
import yaml
from helpers import UNLOADABLE_GRPO, load_unloadable

from trl_r1.recipe import RecipeError, check_machine, load_recipe

REPO = Path(__file__).resolve().parents[1]
ALL_RECIPES = sorted(p for p in (REPO / "recipes").rglob("*.yaml") if "accelerate" not in p.parts)

# Recipes that read what an earlier stage (or command) writes: valid inside their pipeline, and `check`
# on their own says that the data is not there yet.
FROM_EARLIER_STAGE = {"r1/stage3_sft.yaml", "tiny/r1/sft.yaml",
                      "eval/livecodebench.yaml"}  # convert-lcb writes its data


def gpu_install_packages() -> set[str]:
    """The packages the GPU install (`pip install -e rewards -e ".[dev,gpu]"`) adds: pyproject's
    `gpu` extra, its references to this project's other extras (`trl-r1[vllm,...]`) followed."""
    import tomllib

    from packaging.requirements import Requirement

    extras = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["optional-dependencies"]

    def packages(extra: str) -> set[str]:
        found = set()
        for req in map(Requirement, extras[extra]):
            found |= set().union(*map(packages, req.extras)) if req.name == "trl-r1" else {req.name}
        return found

    return packages("gpu")


@pytest.fixture
def gpu_install(monkeypatch):
    """Trackers as the GPU install (pyproject's `gpu` extra) leaves them: those it installs count
    as installed (none of them is installed here)."""
    import transformers.integrations
    import transformers.integrations.integration_utils as integrations

    packages = gpu_install_packages()
    installed = set(integrations.get_available_reporting_integrations())
    as_installed = lambda: sorted(installed | (packages & set(integrations.INTEGRATION_TO_CALLBACK)))  # noqa: E731
    # both names: trl_r1 reads the public one (transformers.integrations), transformers its module's
    monkeypatch.setattr(integrations, "get_available_reporting_integrations", as_installed)
    monkeypatch.setattr(transformers.integrations, "get_available_reporting_integrations", as_installed)
    return packages


@pytest.mark.parametrize("path", ALL_RECIPES, ids=lambda p: str(p.relative_to(REPO / "recipes")))
def test_every_shipped_recipe_validates_after_the_gpu_install_line(path, gpu_install):
    name = str(path.relative_to(REPO / "recipes"))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        recipe = load_recipe(path, check_only=True)
    deprecated = [str(w.message) for w in caught if issubclass(w.category, FutureWarning)]
    assert not deprecated, f"{name} uses a name transformers or TRL deprecates: {deprecated}"
    assert recipe.stage.name == recipe.values["stage"]
    if name in FROM_EARLIER_STAGE:
        with pytest.raises(ValueError, match="does not exist, and no earlier stage builds it"):
            check_machine(recipe)
    else:
        check_machine(recipe)


def test_the_gpu_install_line_installs_every_tracker_a_recipe_reports_to(gpu_install):
    """pyproject's `gpu` extra and the recipes agree (the GPU recipes reported to wandb, which the
    GPU install did not install)."""
    for path in ALL_RECIPES:
        trackers = yaml.safe_load(path.read_text()).get("report_to") or []
        trackers = [trackers] if isinstance(trackers, str) else trackers
        assert set(trackers) - {"none"} <= gpu_install, f"{path.name} reports to {trackers}"


def test_check_catches_a_tracker_that_is_not_installed(monkeypatch, capsys):
    import transformers.integrations
    import transformers.integrations.integration_utils as integrations

    from trl_r1.__main__ import main

    for module in (integrations, transformers.integrations):  # the module's name and the public one
        monkeypatch.setattr(module, "get_available_reporting_integrations", lambda: [])
    assert main(["check", str(REPO / "recipes/zero.yaml")]) == 2
    error = capsys.readouterr().err
    assert "report_to: 'wandb' is not installed here (pip install wandb" in error and "--report_to trackio" in error
    with pytest.raises(RecipeError, match="report_to: unknown integration 'wandbb'"):
        load_unloadable(report_to=["wandbb"])


def test_check_catches_local_data_that_nothing_builds(tmp_path):
    with pytest.raises(RecipeError, match=r"dataset_name: data/r1_stage4_prompts.jsonl does not exist, and no earlier stage"):
        load_unloadable(dataset_name="data/r1_stage4_prompts.jsonl")
    with pytest.raises(RecipeError, match="general_dataset_name: outputs/x/dataset does not exist"):
        load_recipe(REPO / "recipes/tiny/r1/rejection_sampling.yaml", ["--general_dataset_name", "outputs/x/dataset"])
    data = tmp_path / "prompts.jsonl"
    data.write_text('{"problem": "1 + 1?", "solution": "2"}\n')
    assert load_unloadable(dataset_name=str(data)).configs[0].dataset_name == str(data)
    assert load_unloadable(dataset_name="open-r1/OpenR1-Math-220k").configs[0].dataset_name  # a Hub id is not checked here


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


def test_every_recipe_an_accelerate_command_names_exists_and_is_its_hardware_accelerate_config():
    """Recipes say which accelerate config to launch them with; those configs exist, and the
    recipe's `hardware.accelerate_config` names the same one (what `plan`, `check` and `rehearse`
    read: a comment is for the reader only)."""
    import re

    for path in ALL_RECIPES:
        for config in re.findall(r"--config_file (\S+\.yaml)", path.read_text()):
            assert (REPO / config).is_file(), f"{path.name} names {config}, which does not exist"
            hardware = yaml.safe_load(path.read_text()).get("hardware") or {}
            assert "accelerate_config" in hardware, f"{path.name} names {config} in a comment, not in hardware:"
            assert (path.parent / hardware["accelerate_config"]).resolve() == (REPO / config).resolve(), path.name


def test_full_pipeline_stages_follow_the_paper(gpu_install):
    """recipes/r1/pipeline.yaml: stage 3's SFT starts from the base model on stage 3's samples, and
    stage 4's preference rewards are on for the last 400 steps only, on general prompts."""
    recipe = load_recipe(REPO / "recipes" / "r1" / "pipeline.yaml", check_only=True)
    stages = {entry["name"]: entry for entry in recipe.configs[0].stages}
    assert stages["sft"]["overrides"] == {"dataset_name": "${rejection_sampling.dataset}"}
    base = load_recipe(REPO / "recipes" / "r1" / "stage1_cold_start.yaml", check_only=True).configs[-1]
    sft = {step.name: r for step, r in recipe.stage.parts(recipe)}["sft"]
    assert sft.configs[-1].model_name_or_path == base.model_name_or_path and sft.configs[1].num_train_epochs == 2
    preference = [r for r in stages["all_scenarios"]["overrides"]["rewards"] if r["name"] in ("safety", "helpfulness")]
    assert len(preference) == 2 and all(r["start_step"] == -400 and r["tasks"] == ["general"] for r in preference)


def test_stage_4_spends_no_rollout_on_prompts_that_no_reward_scores(gpu_install):
    """recipes/r1/pipeline.yaml's stage 4: 1,700 GRPO steps, general prompts and the preference
    rewards in the last 400 only, and in every run every task of its data has a reward active at
    every step (one 1,700-step run gave general prompts None from every reward for 1,300 steps)."""
    from trl_r1_rewards.schedule import resolve_step

    pipeline = load_recipe(REPO / "recipes/r1/pipeline.yaml", check_only=True)
    runs = {step.name: recipe for step, recipe in pipeline.stage.parts(pipeline)}
    first, last = runs["stage4_reasoning"], runs["all_scenarios"]
    assert first.configs[1].max_steps + last.configs[1].max_steps == 1700 and last.configs[1].max_steps == 400
    assert first.configs[0].general_dataset_name is None and last.configs[0].general_dataset_name
    for name, recipe in runs.items():
        if recipe.stage.name != "grpo":
            continue
        script_args, args, _ = recipe.configs
        tasks = {"reasoning", "general"} if script_args.general_dataset_name else {"reasoning"}
        for task in tasks:
            applies = [s for s in args.reward_specs if s.tasks is None or task in s.tasks]
            always = [s for s in applies if not resolve_step(s.start_step, args.max_steps) and s.end_step is None]
            assert always, f"{name}: {task} prompts get None from every reward at step 0"
    preference = [s for s in last.configs[1].reward_specs if s.name in ("safety", "helpfulness")]
    assert len(preference) == 2 and all(s.tasks == ["general"] for s in preference)


def test_grpo_mixes_general_prompts_into_the_data_with_their_task(tiny_model, tmp_path):
    from helpers import run_recipe, tiny_recipe

    general = tmp_path / "general.jsonl"
    general.write_text("".join(f'{{"prompt": "Write line {i} of a poem."}}\n' for i in range(50)))
    seen = []
    from trl_r1.stages import grpo

    original = grpo.check_tasks
    grpo.check_tasks = lambda train, specs: (seen.append(train), original(train, specs))
    try:
        run_recipe(tiny_recipe(tiny_model, tmp_path / "out", max_train_samples=None, max_steps=1,
                               general_dataset_name=str(general), general_fraction=0.2,
                               rewards=[{"name": "accuracy", "tasks": ["reasoning"]},
                                        {"name": "format", "kwargs": {"template": "r1"}, "tasks": ["general"]}]))
    finally:
        grpo.check_tasks = original
    tasks = seen[0]["task"]
    assert tasks.count("general") == 50 and tasks.count("reasoning") == 2000
    with pytest.raises(RecipeError, match="general_fraction"):
        load_unloadable(general_dataset_name="builtin:general", general_fraction=1.0)


def test_zero_recipe_follows_the_paper(gpu_install):
    recipe = load_recipe(REPO / "recipes/zero.yaml", check_only=True)
    _, args, _ = recipe.configs
    assert (args.learning_rate, args.beta, args.temperature, args.num_generations) == (3e-6, 0.001, 1.0, 16)
    assert (args.sync_ref_model, args.ref_model_mixup_alpha, args.ref_model_sync_steps) == (True, 1.0, 400)
    assert args.prompt_template == "zero" and args.use_vllm
    assert [s.name for s in args.reward_specs] == ["accuracy", "format"]


GPU_GRPO = [p for p in ALL_RECIPES if "tiny" not in p.parts and yaml.safe_load(p.read_text())["stage"] == "grpo"]


@pytest.mark.parametrize("path", GPU_GRPO, ids=lambda p: p.name)
def test_colocated_vllm_sleeps_during_the_backward_pass(path):
    """Colocated vLLM otherwise keeps its weights and KV cache on the GPU through the backward pass."""
    values = yaml.safe_load(path.read_text())
    assert values["use_vllm"] and values["vllm_mode"] == "colocate" and values["vllm_enable_sleep_mode"] is True


def test_vllm_context_must_hold_the_prompt_and_the_completion(gpu_install):
    """vLLM's context holds prompt + completion; zero.yaml's note on the paper's 65,536-token phase
    names both flags (it named only --max_completion_length, which left vLLM at 34,816)."""
    import re

    with pytest.raises(RecipeError, match="vllm_max_model_length: 34816 leaves no room for the prompt"):
        load_unloadable(["--max_completion_length", "65536"], use_vllm=True, vllm_max_model_length=34816)
    (restart,) = re.findall(r"restart with\s+#?\s*`([^`]+)`", (REPO / "recipes/zero.yaml").read_text())
    _, args, _ = load_recipe(REPO / "recipes/zero.yaml", restart.split(), check_only=True).configs
    assert args.max_completion_length == 65536 and args.vllm_max_model_length >= 65536 + 1024


GPU_SFT = [p for p in ALL_RECIPES if "tiny" not in p.parts and yaml.safe_load(p.read_text())["stage"] == "sft"]


@pytest.mark.parametrize("path", GPU_SFT, ids=lambda p: p.name)
def test_sft_recipes_stop_at_their_chat_templates_end_of_turn(path):
    """Qwen2.5 ends a turn with <|im_end|>, Llama 3 with <|eot_id|>; neither is the base tokenizer's
    end-of-text token, so the recipe says it (the sft stage checks it against the template too)."""
    values = yaml.safe_load(path.read_text())
    family = "llama" if "llama" in values["model_name_or_path"].lower() else "qwen"
    assert values["eos_token"] == {"llama": "<|eot_id|>", "qwen": "<|im_end|>"}[family]


def test_valid_recipe_and_command_line_override():
    recipe = load_unloadable(["--learning_rate", "0.5", "--max_steps", "7"], learning_rate=1e-5)
    script_args, args, model_args = recipe.configs
    assert args.learning_rate == 0.5 and args.max_steps == 7
    assert model_args.model_name_or_path == "/nonexistent/model"
    assert [s.name for s in args.reward_specs] == ["accuracy", "format"]


def test_yaml_scientific_notation_string_is_a_float():
    # PyYAML reads `3e-6` (no dot) as a string; the recipe still means a number.
    assert load_unloadable(learning_rate="3e-6").configs[1].learning_rate == 3e-6


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
        load_unloadable(**values)
    assert field in str(error.value)


def test_typo_gets_a_suggestion():
    with pytest.raises(RecipeError, match="Did you mean `learning_rate`"):
        load_unloadable(learnig_rate=1e-5)


def test_unknown_reward_lists_available():
    with pytest.raises(RecipeError, match="accuracy.*format.*language_consistency"):
        load_unloadable(rewards=["nope"])


def test_bad_reward_option_lists_accepted():
    with pytest.raises(RecipeError, match="Accepted options: .*template"):
        load_unloadable(rewards=[{"name": "format", "kwargs": {"colour": "red"}}])


def test_missing_or_unknown_stage():
    with pytest.raises(RecipeError, match="stage"):
        load_recipe(None, values={k: v for k, v in UNLOADABLE_GRPO.items() if k != "stage"})
    with pytest.raises(RecipeError, match="unknown stage `rlhf`"):
        load_unloadable(stage="rlhf")


def test_unknown_command_line_argument():
    with pytest.raises(RecipeError, match="--not_a_field"):
        load_unloadable(["--not_a_field", "1"])


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
    recipe = load_unloadable(rewards=[
        "accuracy",
        {"name": "format", "weight": 0.5, "kwargs": {"template": "zero"}, "start_step": -400},
    ])
    args = recipe.configs[1]
    assert args.reward_weights == [1.0, 0.5]
    fmt = args.reward_specs[1]
    assert fmt.scheduled and fmt.start_step == -400 and fmt.kwargs == {"template": "zero"}
    assert not args.reward_specs[0].scheduled


def test_rewards_from_command_line_as_names_and_json():
    recipe = load_unloadable(["--rewards", "accuracy", '{"name": "format", "weight": 2}'])
    assert [(s.name, s.weight) for s in recipe.configs[1].reward_specs] == [("accuracy", 1.0), ("format", 2.0)]


def test_recipe_as_it_ran_records_overrides():
    text = load_unloadable(["--max_steps", "7"]).to_yaml()
    assert "stage: grpo" in text and text.endswith("# command-line overrides: --max_steps 7\n")
