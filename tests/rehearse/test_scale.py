"""What a rehearsal scales and what it keeps (no engines needed: nothing runs)."""

from __future__ import annotations

import yaml
from helpers import REPO

from trl_r1.rehearse import accelerate_config
from trl_r1.rehearse.scale import scale


def _recipe(path: str) -> dict:
    return yaml.safe_load((REPO / path).read_text())


def test_a_rehearsal_of_zero_keeps_rewards_template_loss_beta_and_vllm_mode_and_scales_the_rest(tmp_path):
    original = _recipe("recipes/zero.yaml")
    values, notes = scale("grpo", original, tmp_path, "zero")
    for kept in ("stage", "rewards", "prompt_template", "loss_type", "beta", "use_vllm", "vllm_mode", "bf16",
                 "sync_ref_model", "learning_rate", "temperature", "push_to_hub", "hub_model_id"):
        assert values[kept] == original[kept], kept
    assert values["max_steps"] == 2
    # Qwen2.5-7B (base) -> a tiny Qwen2 built here, whose text ends with <|endoftext|> while a chat turn
    # ends with <|im_end|>, as the real base model's
    from transformers import AutoConfig, AutoTokenizer

    model = values["model_name_or_path"]
    assert AutoConfig.from_pretrained(model).architectures == ["Qwen2ForCausalLM"]
    tokenizer = AutoTokenizer.from_pretrained(model)
    assert tokenizer.eos_token == "<|endoftext|>"
    assert tokenizer.apply_chat_template([{"role": "user", "content": "1 + 1?"}], tokenize=False).endswith("<|im_end|>\n")
    assert values["max_completion_length"] <= 64 and values["num_generations"] < original["num_generations"]
    assert values["ref_model_sync_steps"] == 1 and values["save_steps"] == 1  # every event happens
    # the Hub dataset is a stand-in with the column the accuracy reward reads (`answer`)
    import datasets

    standin = datasets.load_from_disk(values["dataset_name"])
    assert {"problem", "answer"} <= set(standin["train"].column_names)
    assert {note[0] for note in notes} >= {"model_name_or_path", "dataset_name", "max_steps"}


def test_a_reward_window_counted_from_the_end_still_opens_within_the_rehearsal(tmp_path):
    original = _recipe("recipes/r1/stage4_all_scenarios.yaml")
    rewards = [{**r, "kwargs": {}} if r["name"] in ("safety", "helpfulness") else r for r in original["rewards"]]
    # -400 of 1,700 steps, as in the paper (this recipe runs those 400 steps on their own)
    values, notes = scale("grpo", {**original, "rewards": rewards, "max_steps": 1700}, tmp_path, "s4", steps=3)
    windows = {r["name"]: r.get("start_step") for r in values["rewards"]}
    assert windows["safety"] == windows["helpfulness"] == -1  # the last of 3 steps, as -400 of 1700
    assert windows["accuracy"] is None
    assert ("rewards.safety.start_step", -400, -1, "the window opens within the run") in notes


def test_hub_datasets_become_stand_ins_with_the_columns_and_splits_the_recipe_reads(tmp_path):
    import datasets

    original = _recipe("recipes/r1/stage4_safety_rm.yaml")
    values, _ = scale("reward_model", original, tmp_path, "safety_rm")
    standin = datasets.load_from_disk(values["dataset_name"])
    assert set(standin) == {"330k_train", "330k_test"}
    assert set(standin["330k_train"].column_names) == {"prompt", "response", "is_safe"}


def test_the_accelerate_config_keeps_deepspeed_and_comes_down_to_two_cpu_processes():
    notes = []
    config, processes = accelerate_config(REPO / "recipes/accelerate/zero3_offload.yaml", None, notes)
    assert processes == 2 and config["num_processes"] == 2 and config["use_cpu"] is True
    assert config["distributed_type"] == "DEEPSPEED" and config["mixed_precision"] == "no"
    assert config["deepspeed_config"]["zero_stage"] == 3
    assert config["deepspeed_config"]["offload_optimizer_device"] == "cpu"
    assert ("accelerate", "num_processes", 8, 2, "this machine") in notes


def test_the_final_evaluation_of_a_grpo_recipe_is_rehearsed_at_the_same_scale(tmp_path):
    from trl_r1.rehearse import prepare

    plan = prepare({"recipe": REPO / "recipes/tiny/zero.yaml", "steps": None, "overrides": {}, "config_file": None,
                    "processes": None}, tmp_path)
    recipe = yaml.safe_load(plan["recipe"].read_text())
    evaluation = yaml.safe_load((tmp_path / "recipes" / "zero-evaluate.yaml").read_text())
    original = _recipe("recipes/eval/tiny_arithmetic.yaml")
    assert recipe["eval_recipe"] == str(tmp_path / "recipes" / "zero-evaluate.yaml")
    assert evaluation["max_questions"] == 4 < original["max_questions"]
    assert evaluation["num_samples"] == 2 < original["num_samples"]
    for kept in ("stage", "scorer", "chat_examples", "system_prompt", "temperature", "backend"):
        assert evaluation[kept] == original[kept], kept
    assert ("zero.yaml eval_recipe", "max_questions", 100, 4) in {note[:4] for note in plan["notes"]}


def test_a_recipe_stating_its_steps_size_is_scaled_to_one_micro_batch_per_rehearsal_process(tmp_path):
    from trl_r1.recipe import load_recipe
    from trl_r1.train.launch import at_launch_size

    values = yaml.safe_load((REPO / "recipes/zero.yaml").read_text())
    new, _ = scale("grpo", values, tmp_path, "zero", processes=2)
    assert new["questions_per_step"] * new["num_generations"] == new["per_device_train_batch_size"] * 2
    new.pop("hardware", None)
    new.update(report_to=[], use_vllm=False)
    with at_launch_size(2):  # as in each of the rehearsal's two processes
        args = load_recipe(None, values=new, check_only=True).configs[1]
    assert args.gradient_accumulation_steps == 1


def test_a_rollout_of_several_steps_is_rehearsed_as_two_the_second_off_policy(tmp_path):
    """DAPO's 8,192-completion rollout (16 steps) would take a rehearsal hours; two steps keep
    what it tests: a step trained on completions an earlier policy sampled."""
    original = _recipe("recipes/variants/zero_dapo.yaml")
    values, notes = scale("grpo", original, tmp_path, "zero_dapo", processes=2)
    per_step = values["per_device_train_batch_size"] * 2
    assert values["generation_batch_size"] == 2 * per_step and values["questions_per_step"] * 4 == per_step
    assert ("generation_batch_size", 8192, 2 * per_step, "two optimizer steps per rollout") in notes
    for kept in ("epsilon", "epsilon_high", "loss_type", "mask_truncated_completions", "group_filter_reward"):
        assert values[kept] == original[kept], kept


def test_a_pipeline_is_rehearsed_as_a_pipeline_of_its_stage_recipes_scaled_with_its_accelerate_config(tmp_path):
    """The pipeline stage rewrites itself for a rehearsal (its `rehearsal` hook): each stage's recipe
    scaled into a file of its own, the outputs in the rehearsal's folder, and beside it the
    accelerate config its hardware names (the pipeline's own values once took that config's place,
    and writing it failed)."""
    from trl_r1.rehearse import prepare

    options = {"recipe": REPO / "recipes/r1/pipeline.yaml", "config_file": None, "output_dir": None,
               "processes": None, "steps": None, "fresh": False, "overrides": {}}
    plan = prepare(options, tmp_path)
    pipeline = yaml.safe_load(plan["recipe"].read_text())
    names = [entry["name"] for entry in _recipe("recipes/r1/pipeline.yaml")["stages"]]
    assert [entry["recipe"] for entry in pipeline["stages"]] == [f"{name}.yaml" for name in names]
    for name in names:
        assert yaml.safe_load((plan["recipe"].parent / f"{name}.yaml").read_text())["output_dir"].startswith(str(tmp_path))
    assert pipeline["output_dir"] == str(tmp_path / "out") and "hardware" not in pipeline
    assert yaml.safe_load(plan["accelerate"].read_text())["num_processes"] == 2


def test_a_pipelines_evaluations_are_rehearsed_scaled_with_their_references_kept(tmp_path):
    """recipes/tiny/pipeline.yaml's three evaluations: each recipe scaled into a file of its own, its
    overrides scaled too, and the references to the reward models it scores with left for the run."""
    from trl_r1.rehearse import prepare

    options = {"recipe": REPO / "recipes/tiny/pipeline.yaml", "config_file": None, "output_dir": None,
               "processes": None, "steps": None, "fresh": False, "overrides": {}}
    plan = prepare(options, tmp_path)
    evaluations = yaml.safe_load(plan["recipe"].read_text())["evaluate"]
    assert [e["name"] for e in evaluations] == ["arithmetic", "helpfulness", "safety"]
    for entry in evaluations:
        scaled = yaml.safe_load((plan["recipe"].parent / entry["recipe"]).read_text())
        assert scaled["stage"] == "evaluate" and scaled["max_questions"] <= 4 and scaled["num_samples"] <= 2
    assert evaluations[2]["overrides"]["scorer_kwargs"]["model"] == "${safety_rm.model}"
    assert evaluations[1]["stages"] == ["sft", "all_scenarios"] and evaluations[0]["greedy"] is True


def test_a_micro_batch_set_on_the_rehearse_command_line_refits_the_stated_step(tmp_path):
    """`rehearse stage4 --per_device_train_batch_size 16`: the step of 2 questions x 4 that fitted
    the scaled micro-batch of 4 is refitted to 16 a micro-batch (the run refused 8 completions)."""
    from trl_r1.rehearse import _parse, prepare

    options = _parse(["recipes/r1/stage4_all_scenarios.yaml", "--per_device_train_batch_size", "16"])
    options["recipe"] = REPO / options["recipe"]
    plan = prepare(options, tmp_path)
    values = yaml.safe_load(plan["recipe"].read_text())
    assert values["per_device_train_batch_size"] == 16
    assert values["questions_per_step"] * values["num_generations"] == 16 * plan["processes"]
