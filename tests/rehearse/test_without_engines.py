"""A variant and a one-GPU recipe rehearsed without the engines (vLLM, DeepSpeed), where they are
not installed: `rehearse --use_vllm false`, one process, transformers' generation, their algorithm
settings as written (DAPO's loss, clip range, dynamic sampling and overlong reward; LoRA). Every
variant and one-GPU recipe rehearses with its engines in tests/rehearse/test_rehearsals.py (marked
`engines`, which CI runs too); these two show the path without them. Slow: a minute a recipe."""

from __future__ import annotations

import subprocess
import sys

import pytest
from helpers import REPO

RECIPES = ["recipes/variants/zero_dapo.yaml", "recipes/one_gpu/zero_24gb.yaml"]


@pytest.mark.slow
@pytest.mark.parametrize("recipe", RECIPES)
def test_a_variant_or_one_gpu_recipe_rehearses_without_the_engines(tmp_path, recipe):
    command = [sys.executable, "-m", "trl_r1", "rehearse", recipe, "--output_dir", str(tmp_path), "--use_vllm", "false",
               "--report_to", "none"]
    if "variants" in recipe:  # their ZeRO-3 config needs DeepSpeed: a plain CPU config instead
        command += ["--config_file", "recipes/accelerate/cpu_2proc.yaml"]
    result = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=1200)
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-3000:]
    assert f"| {recipe.split('/')[-1].removesuffix('.yaml')} | grpo | ok |" in result.stdout
