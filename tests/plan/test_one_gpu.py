"""`plan` for one-GPU recipes: LoRA's memory (a frozen base, fp32 adapters, no reference model) and
the 24 and 48 GB cards the recipes in recipes/one_gpu/ are sized for."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from trl_r1.plan import plan_recipe
from trl_r1.plan.hardware import GPUS
from trl_r1.plan.memory import lora_params
from trl_r1.plan.shapes import ModelShape

REPO = Path(__file__).resolve().parents[2]
ONE_GPU = sorted((REPO / "recipes" / "one_gpu").glob("*.yaml"))


@pytest.mark.parametrize("targets", [["q_proj", "v_proj"], ["all-linear"], ["down_proj", "gate_proj", "o_proj"]])
def test_lora_parameters_are_the_ones_peft_trains(tiny_model, targets):
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    model = get_peft_model(AutoModelForCausalLM.from_pretrained(tiny_model, dtype=torch.float32),
                           LoraConfig(r=8, target_modules=targets if targets != ["all-linear"] else "all-linear",
                                      task_type="CAUSAL_LM"))
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    shape = ModelShape.from_config("tiny", "here", json.loads((tiny_model / "config.json").read_text()))
    assert lora_params(shape, 8, targets) == trainable


def test_a_lora_plan_counts_the_frozen_base_and_the_adapters_and_no_reference_model(tmp_path):
    values = yaml.safe_load((REPO / "recipes/one_gpu/zero_80gb.yaml").read_text())
    (lora,) = plan_recipe(REPO / "recipes/one_gpu/zero_80gb.yaml")
    (full,) = plan_recipe(REPO / "recipes/one_gpu/zero_80gb.yaml", ["--use_peft", "false"])
    parts = {p.name: p.bytes for p in lora.parts}
    assert values["beta"] > 0 and "reference model" not in parts
    assert parts["weights"] == 2 * lora.model.params
    assert parts["LoRA adapters"] == 16 * lora_params(lora.model, values["lora_r"], values["lora_target_modules"])
    assert lora.fits and not full.fits  # 7B trained whole (8 bytes a parameter) and vLLM: more than 80 GB


def test_the_one_gpu_recipes_cover_24_48_and_80_gb_in_one_process():
    cards = {}
    for path in ONE_GPU:
        (plan,) = plan_recipe(path)
        assert plan.fits and plan.hardware.gpus == 1 and plan.hardware.distributed == "NO", plan.to_text()
        cards[path.name] = round(plan.hardware.gpu.memory_gib)
    assert cards == {"zero_24gb.yaml": 24, "zero_48gb.yaml": 44, "zero_80gb.yaml": 79}
    assert {"RTX4090-24GB", "L40S-48GB", "A6000-48GB"} <= set(GPUS)


@pytest.mark.parametrize("path, card, other", [("zero_24gb.yaml", "L4", "L4-24GB"),
                                               ("zero_48gb.yaml", "A6000", "A6000-48GB"),
                                               ("zero_80gb.yaml", "A100-80GB", "A100-80GB")])
def test_each_one_gpu_recipe_fits_the_other_cards_its_header_names(path, card, other):
    assert card in (REPO / "recipes/one_gpu" / path).read_text().split("stage:")[0]
    (plan,) = plan_recipe(REPO / "recipes/one_gpu" / path, hardware_overrides={"gpu": other})
    assert plan.fits, plan.to_text()
