"""`plan` and `check` on the shipped recipes: every GPU recipe fits the hardware it names, and a
recipe that does not fit is reported with the change that makes it fit."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from trl_r1.__main__ import main
from trl_r1.plan import plan_recipe
from trl_r1.recipe import RecipeError, load_recipe

REPO = Path(__file__).resolve().parents[2]
GPU_RECIPES = sorted(p for p in (REPO / "recipes").rglob("*.yaml") if "hardware" in yaml.safe_load(p.read_text()))
PAPER_RL = ["zero.yaml", "r1/stage2_reasoning_rl.yaml", "r1/stage4_all_scenarios.yaml"]


def test_every_gpu_recipe_names_its_hardware():
    names = {str(p.relative_to(REPO / "recipes")) for p in GPU_RECIPES}
    assert {"zero.yaml", "r1/pipeline.yaml", "distill/llama-3.3-70b-instruct.yaml", "eval/aime24.yaml"} <= names
    assert not any(name.startswith("tiny/") for name in names)


@pytest.mark.parametrize("path", GPU_RECIPES, ids=lambda p: str(p.relative_to(REPO / "recipes")))
def test_a_gpu_recipe_fits_the_hardware_it_names(path):
    plans = plan_recipe(path)
    assert plans and all(plan.fits for plan in plans), "\n\n".join(p.to_text() for p in plans if not p.fits)


@pytest.mark.parametrize("name", PAPER_RL)
def test_the_rl_recipes_keep_the_papers_512_completions_and_32_questions_per_step(name):
    (plan,) = plan_recipe(REPO / "recipes" / name)
    assert (plan.per_step["completions"], plan.per_step["questions"]) == ("512", "32")
    args = load_recipe(REPO / "recipes" / name, check_only=True).configs[1]
    assert args.per_device_train_batch_size * 8 * args.gradient_accumulation_steps == 512


def test_zero_yaml_as_it_was_64_per_device_at_32k_does_not_fit_and_the_fix_keeps_512_completions():
    (plan,) = plan_recipe(REPO / "recipes/zero.yaml", ["--per_device_train_batch_size", "64"])
    assert not plan.fits and plan.peak > 10 * plan.budget
    # the recipe states 32 questions a step: the fix is a micro-batch, the accumulation follows
    batch, accumulation = map(int, re.match(r"per_device_train_batch_size: (\d+) \(gradient accumulation (\d+), derived\)",
                                            plan.fix).groups())
    assert batch * accumulation == 64  # per GPU and step: 8 GPUs x 64 = 512 completions
    (fixed,) = plan_recipe(REPO / "recipes/zero.yaml", ["--per_device_train_batch_size", str(batch)])
    assert fixed.fits and fixed.per_step["completions"] == "512"


def test_a_stage_recipe_starting_from_another_recipes_output_is_planned_as_that_base_model():
    (plan,) = plan_recipe(REPO / "recipes/r1/stage2_reasoning_rl.yaml")  # starts from outputs/r1/cold_start
    assert plan.model.name == "Qwen/Qwen2.5-7B"


def test_a_pipeline_is_planned_link_by_link_with_each_links_own_hardware():
    plans = plan_recipe(REPO / "recipes/r1/pipeline.yaml")
    assert [p.name for p in plans] == ["cold_start", "reasoning_rl", "rejection_sampling", "sft", "safety_rm",
                                       "helpfulness_rm", "stage4_reasoning", "all_scenarios"]
    assert {p.model.name for p in plans} == {"Qwen/Qwen2.5-7B", "Qwen/Qwen2.5-1.5B-Instruct"}
    assert [p.hardware.gpus for p in plans] == [8, 8, 1, 8, 8, 8, 8, 8]
    stage4 = plans[-1]
    # two sequences per micro-batch while vLLM sleeps: the loss pass, beside the reward models, is the peak
    assert {p.name for p in stage4.parts} >= {"reward model (helpfulness)", "reward model (safety)", "activations"}
    assert any("vLLM holds" in note for note in stage4.notes)


def test_the_70b_distill_does_not_fit_without_offload():
    (plan,) = plan_recipe(REPO / "recipes/distill/llama-3.3-70b-instruct.yaml",
                          hardware_overrides={"accelerate_config": str(REPO / "recipes/accelerate/zero3.yaml")})
    assert not plan.fits and "offload" in plan.fix


def test_evaluating_a_70b_model_on_one_gpu_does_not_fit_its_weights():
    (plan,) = plan_recipe(REPO / "recipes/eval/aime24.yaml", ["--model_name_or_path", "meta-llama/Llama-3.3-70B-Instruct"])
    assert not plan.fits and "tensor parallelism" in plan.fix


def test_a_recipe_naming_no_hardware_asks_for_it_on_the_command_line():
    with pytest.raises(ValueError, match="--gpu H100-80GB"):
        plan_recipe(REPO / "recipes/tiny/zero.yaml")
    (plan,) = plan_recipe(REPO / "recipes/tiny/zero.yaml", hardware_overrides={"gpu": "A100-40GB"})
    assert plan.fits and plan.hardware.gpus == 1 and plan.model.name == "embedded:SmolLM2-135M-Instruct"


def test_a_hardware_entry_with_an_unknown_key_or_missing_config_fails_when_the_recipe_loads(tmp_path):
    values = yaml.safe_load((REPO / "recipes/zero.yaml").read_text())
    for hardware, message in (({"gpu": "H100-80GB", "gpu_count": 8}, "unknown key"),
                              ({"gpu": "H100-80GB", "accelerate_config": "nope.yaml"}, "no such file"),
                              ({"accelerate_config": "x.yaml"}, "at least `gpu`")):
        path = tmp_path / "r.yaml"
        path.write_text(yaml.safe_dump({**values, "hardware": hardware}))
        with pytest.raises(RecipeError, match=message):
            load_recipe(path, check_only=True)


def test_plan_command_prints_every_part_and_exits_1_when_a_stage_does_not_fit(capsys):
    code = main(["plan", str(REPO / "recipes/zero.yaml"), "--per_device_train_batch_size", "64",
                 "--gradient_accumulation_steps", "1", "--vllm_enable_sleep_mode", "false"])  # awake: vLLM counts
    out = capsys.readouterr().out
    assert code == 1
    for part in ("weights", "gradients", "optimizer", "reference model", "vLLM (colocated)", "activations",
                 "loss head", "rollouts of 34,816 tokens at once", "completions 512", "questions 32", "DOES NOT FIT",
                 "fix: per_device_train_batch_size: "):
        assert part in out, part


def test_plan_command_takes_the_hardware_from_the_command_line_and_prints_json(capsys):
    code = main(["plan", str(REPO / "recipes/zero.yaml"), "--gpu", "H200-141GB", "--json"])
    (plan,) = json.loads(capsys.readouterr().out)
    assert code == 0 and plan["fits"] and plan["hardware"].startswith("8x H200-141GB")
    assert plan["usable_gib"] > 130


def test_check_plans_a_recipe_that_names_its_hardware_and_fails_with_the_fix(capsys):
    quiet = ["--report_to", "none"]  # wandb, the recipe's tracker, is not installed here
    assert main(["check", str(REPO / "recipes/zero.yaml"), *quiet]) == 0
    assert "fits" in capsys.readouterr().out
    assert main(["check", str(REPO / "recipes/zero.yaml"), *quiet, "--per_device_train_batch_size", "64",
                 "--gradient_accumulation_steps", "1"]) == 2
    err = capsys.readouterr().err
    assert "does not fit its hardware; fix: per_device_train_batch_size: " in err


def test_the_launch_size_comes_from_the_hardware_settings_and_check_and_plan_read_the_recipe_once(monkeypatch, capsys):
    import trl_r1.recipe
    from trl_r1.plan import launch_gpus, launch_processes_of

    zero = REPO / "recipes/zero.yaml"
    hardware = yaml.safe_load(zero.read_text())["hardware"]  # accelerate/zero3.yaml: 8 processes on a node
    assert launch_processes_of(hardware, zero) == 8 and launch_processes_of(hardware, zero, {"gpus": 16}) == 16
    assert launch_processes_of(None, zero) is None and launch_gpus(hardware, zero, nodes=2) == 16
    reads = []
    read_yaml = trl_r1.recipe.read_yaml
    monkeypatch.setattr(trl_r1.recipe, "read_yaml", lambda path: reads.append(Path(path)) or read_yaml(path))
    assert main(["check", str(zero), "--report_to", "none"]) == 0
    assert main(["plan", str(zero), "--num_machines", "2"]) == 0
    # each command: once for the recipe, once in the scan of recipes/ for the recipe that writes each model
    assert reads.count(zero) == 2 * 2, reads
    assert "16x H100-80GB" in capsys.readouterr().out


def test_the_peak_is_the_larger_of_the_loss_pass_and_generation_each_part_counted_once():
    (loss_pass,) = plan_recipe(REPO / "recipes/zero.yaml", ["--vllm_enable_sleep_mode", "false"])
    assert [p.name for p in loss_pass.parts].count("vLLM (colocated)") == 1
    assert any(p.name == "activations" for p in loss_pass.parts)
    (generation,) = plan_recipe(REPO / "recipes/zero.yaml", ["--use_vllm", "false", "--vllm_max_model_length", "34816"])
    assert any(p.name.startswith("KV cache") for p in generation.parts)  # 64 rollouts' cache beats one loss pass
    assert not any(p.name == "activations" for p in generation.parts)


def test_the_recipe_as_it_ran_leaves_out_hardware_so_it_reloads_next_to_its_outputs(tmp_path):
    recipe = load_recipe(REPO / "recipes/zero.yaml", check_only=True)
    assert recipe.hardware == {"gpu": "H100-80GB", "accelerate_config": "accelerate/zero3.yaml"}
    (tmp_path / "recipe.yaml").write_text(recipe.to_yaml())
    assert load_recipe(tmp_path / "recipe.yaml", check_only=True).hardware is None


def test_offload_is_sized_against_the_nodes_ram_and_more_nodes_share_it():
    recipe = REPO / "recipes/distill/llama-3.3-70b-instruct.yaml"
    (two_tb,) = plan_recipe(recipe)  # the recipe's hardware: one node with 2 TB
    assert two_tb.fits and round(two_tb.host_need / 2**30) == 1774 and "of 2,048 GiB" in two_tb.verdict()
    (one_tb,) = plan_recipe(recipe, hardware_overrides={"host_memory": "1TB"})
    assert not one_tb.fits and one_tb.peak <= one_tb.budget  # the GPUs hold it, the host does not
    assert "1,774 GiB of RAM per node" in one_tb.fix and "--num_machines" in one_tb.fix
    (two_nodes,) = plan_recipe(recipe, hardware_overrides={"host_memory": "1TB"}, nodes=2)
    assert two_nodes.fits and round(two_nodes.host_need / 2**30) == 887


def test_every_stage_kind_says_how_plan_sizes_it_or_is_made_of_parts():
    """`plan` asks the stage module (``PLAN_AS``), never its name: a stage kind that said nothing
    would be sized as generation."""
    from trl_r1.plan.planner import GENERATION, TRAINING
    from trl_r1.stages import STAGES, get_stage

    for name in STAGES:
        module = get_stage(name).module
        assert hasattr(module, "parts") or getattr(module, "PLAN_AS", None) in (*TRAINING, GENERATION), name
