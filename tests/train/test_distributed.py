"""Two processes on CPU (gloo) through `accelerate launch`: the multi-GPU code path, no GPU."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from helpers import REPO, tiny_recipe, write_recipe


@pytest.mark.slow
def test_accelerate_launch_two_cpu_processes(tiny_model, tmp_path):
    out = tmp_path / "out"
    # 2 processes x 4 completions = 8 completions per step = 2 groups of 4, split across ranks.
    # The random model never answers right, so every group is filtered and each step redraws its
    # questions twice: the ranks must agree on whether to redraw (a rank that did not would wait
    # in the training step's all-reduce while the other generates).
    recipe = write_recipe(tmp_path / "r.yaml", tiny_recipe(
        tiny_model, out, max_steps=2, per_device_train_batch_size=4, group_filter_reward="accuracy",
        dynamic_sampling_redraws=2, save_steps=2))
    result = subprocess.run(
        [sys.executable, "-m", "accelerate.commands.launch", "--config_file",
         str(REPO / "recipes/accelerate/cpu_2proc.yaml"), "-m", "trl_r1", str(recipe)],
        cwd=REPO, capture_output=True, text=True, timeout=600,
        env={**os.environ, "TOKENIZERS_PARALLELISM": "false", "OMP_NUM_THREADS": "1"},
    )
    assert result.returncode == 0, result.stderr[-5000:]
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    rows = [row for row in rows if "reward" in row]
    assert [row["step"] for row in rows] == [1, 2]  # written once (main process), not twice
    assert all(row["reflection/rate_per_1k_words"] is not None for row in rows)
    assert [row["redraws"] for row in rows] == [2.0, 2.0]
    assert (out / "model.safetensors").is_file() and (out / "README.md").is_file()
    assert result.stdout.count("Outputs:") == 1
