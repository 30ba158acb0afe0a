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


def _gpu_smoke():
    sys.path.insert(0, str(REPO / "bench"))
    try:
        import gpu_smoke
    finally:
        sys.path.remove(str(REPO / "bench"))
    return gpu_smoke


def test_the_gpu_configuration_is_parsed_for_the_machine_it_runs_on_not_checked_as_if_for_the_cpu(monkeypatch, tmp_path):
    # A check-only parse sets use_cpu while transformers settles the device (its `device` is cached
    # during parsing), so a GPU benchmark built that way would train on the CPU under the GPU's name.
    import trl_r1.recipe

    calls = []
    monkeypatch.setattr(trl_r1.recipe, "load_recipe", lambda *a, **k: calls.append((a, k)))
    _gpu_smoke().recipe_for(tmp_path / "model", tmp_path / "out", batch=8, completion=1024, steps=1, gpu=True)
    ((args, kwargs),) = calls
    assert not kwargs.get("check_only") and kwargs["values"]["use_cpu"] is False and kwargs["values"]["bf16"] is True


def test_a_gpu_run_whose_parameters_are_not_on_the_gpu_is_refused_not_reported():
    import torch

    gpu_smoke = _gpu_smoke()
    model = torch.nn.Linear(2, 2)
    with pytest.raises(RuntimeError, match="not on the GPU: refusing to report"):
        gpu_smoke.require_device(model, gpu=True)
    assert gpu_smoke.require_device(model, gpu=False) == "cpu"


def test_the_budget_guard_skips_a_configuration_its_measured_pace_cannot_finish(capsys, monkeypatch):
    gpu_smoke = _gpu_smoke()
    ran = []

    def fake_run(size, completion, batch, steps, gpu):  # the toy's real cost is measured by the slow test
        ran.append((size, completion))
        return {"params": gpu_smoke.model_params(size), "completion_tokens": completion}

    monkeypatch.setattr(gpu_smoke, "run_one", fake_run)
    clock = iter([0.0, 0.0, 0.0, 100.0, 100.0, 100.0, 100.0])  # the first run takes 100 s of a 300 s budget
    monkeypatch.setattr(gpu_smoke.time, "perf_counter", lambda: next(clock))
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert gpu_smoke.main(["--sizes", "0.5B", "--lengths", "1024,4096", "--budget_s", "300"]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert ran == [("0.5B", 1024)]  # 4x the tokens: ~400 s predicted, 200 s left
    assert lines[1] == {"model": "0.5B", "completion_tokens": 4096, "skipped": "time budget",
                        "expected_s": 400.0, "left_s": 200.0}
