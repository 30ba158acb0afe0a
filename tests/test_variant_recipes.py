"""recipes/variants/: R1-Zero's recipe with DAPO's, Dr. GRPO's or GSPO's settings, and nothing else
changed but what docs/variants.md's table says."""

from __future__ import annotations

from pathlib import Path

import pytest

from trl_r1.recipe import load_recipe

REPO = Path(__file__).resolve().parents[1]
ALGORITHM = ("loss_type", "scale_rewards", "importance_sampling_level", "epsilon", "epsilon_high", "beta",
             "mask_truncated_completions", "group_filter_reward", "dynamic_sampling_redraws", "learning_rate",
             "lr_scheduler_type", "warmup_steps", "questions_per_optimizer_step", "optimizer_steps_per_rollout",
             "sync_ref_model", "max_steps")
KEPT = ("num_generations", "temperature", "max_completion_length", "prompt_template", "use_vllm", "vllm_mode",
        "vllm_max_model_length", "vllm_enable_sleep_mode", "vllm_gpu_memory_utilization", "dataset_name",
        "dataset_prompt_column")
CHANGES = {
    "zero_dapo.yaml": {"loss_type": "dapo", "epsilon_high": 0.28, "beta": 0.0, "mask_truncated_completions": True,
                       "group_filter_reward": "accuracy", "dynamic_sampling_redraws": 3, "learning_rate": 1e-6,
                       "lr_scheduler_type": "constant_with_warmup", "warmup_steps": 20, "sync_ref_model": False,
                       "optimizer_steps_per_rollout": 16},
    "zero_dr_grpo.yaml": {"loss_type": "dr_grpo", "scale_rewards": "none"},
    "zero_gspo.yaml": {"importance_sampling_level": "sequence", "epsilon": 3e-4, "epsilon_high": 4e-4, "beta": 0.0,
                       "questions_per_optimizer_step": 8, "optimizer_steps_per_rollout": 4, "sync_ref_model": False,
                       "max_steps": 40000},
}
REWARDS = {"zero_dapo.yaml": ["accuracy", "format", "overlong"]}


PROCESSES = 8  # the launch all four recipes are planned for (8x H100-80GB)


def configs(path: Path) -> dict:
    recipe = load_recipe(path, ["--report_to", "none"], check_only=True)
    script_args, args, _ = recipe.configs
    values = {**vars(script_args), **vars(args)}
    completions = args.per_device_train_batch_size * PROCESSES * args.gradient_accumulation_steps
    values["questions_per_optimizer_step"] = completions // args.num_generations
    # TRL derives steps_per_generation at this process's size (1): the rollout, in optimizer steps, from the recipe
    values["optimizer_steps_per_rollout"] = recipe.values.get("generation_batch_size", completions) // completions
    values["rewards"] = [spec.name for spec in args.reward_specs]
    values["lr_scheduler_type"] = str(getattr(args.lr_scheduler_type, "value", args.lr_scheduler_type))
    return values


@pytest.fixture(scope="module")
def zero() -> dict:
    return configs(REPO / "recipes/zero.yaml")


@pytest.mark.parametrize("name", sorted(CHANGES))
def test_a_variant_is_r1_zero_with_its_papers_settings(zero, name):
    variant = configs(REPO / "recipes/variants" / name)
    changed = {key: variant[key] for key in ALGORITHM if variant[key] != zero[key]}
    if "epsilon_high" in changed and changed["epsilon_high"] == variant["epsilon"]:
        del changed["epsilon_high"]  # TRL fills an unset epsilon_high with epsilon
    assert changed == CHANGES[name]
    assert {key: variant[key] for key in KEPT} == {key: zero[key] for key in KEPT}
    assert variant["rewards"] == REWARDS.get(name, zero["rewards"])


def test_plan_counts_a_rollout_of_several_steps_per_process():
    from trl_r1.plan import plan_recipe

    (dapo,) = plan_recipe(REPO / "recipes/variants/zero_dapo.yaml")
    assert any("of the 1024 rollouts per GPU" in note for note in dapo.notes)  # 8,192 over 8 GPUs


@pytest.mark.parametrize("name", sorted(CHANGES))
def test_the_variants_page_and_the_recipe_header_cite_the_same_paper(name):
    import re

    (arxiv,) = set(re.findall(r"arXiv (\d{4}\.\d{5})", (REPO / "recipes/variants" / name).read_text()))
    page = (REPO / "docs/variants.md").read_text()
    assert f"arXiv {arxiv}" in page and f"`{name}`" in page
