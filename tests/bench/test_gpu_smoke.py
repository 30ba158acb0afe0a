"""bench/gpu_smoke.py works before a GPU appears: its toy size runs the whole path on CPU."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_gpu_smoke_at_toy_size_runs_grpo_steps_through_r1grpotrainer_and_prints_its_json_line():
    out = subprocess.run([sys.executable, str(REPO / "bench/gpu_smoke.py"), "--toy"], capture_output=True, text=True,
                         timeout=600, env={"HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false",
                                           "PATH": "/usr/bin:/bin"}, check=True)
    (result,) = [json.loads(line) for line in out.stdout.splitlines() if line.startswith("{\"model\"")]
    assert result["model"] == "toy" and result["device"] == "cpu" and result["steps"] == 1
    assert result["completion_tokens"] == 16 and result["generated_tok_per_s"] > 0 and result["trained_tok_per_s"] > 0
    assert result["generation_s"] + result["training_s"] == pytest.approx(result["step_time_s"], rel=0.2)
    assert result["plan_estimate_gib"] >= 0 and {"peak_memory_gib", "mfu"} <= set(result)
