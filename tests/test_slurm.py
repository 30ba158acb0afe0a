"""examples/slurm/train.slurm: the commands it would run on N training nodes + 1 vLLM node,
printed by its dry run (no SLURM here), and its refusals."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys

import pytest

from helpers import REPO

from trl_r1.recipe import load_recipe

SCRIPT = REPO / "examples" / "slurm" / "train.slurm"


def dry_run(*args: str, nodes: str = "gpu1 gpu2 gpu3", **env: str) -> subprocess.CompletedProcess:
    environment = {**os.environ, "DRY_RUN": "1", "NODES": nodes, "PYTHON": sys.executable, **env}
    return subprocess.run(["bash", str(SCRIPT), *args], cwd=REPO, env=environment, capture_output=True, text=True,
                          timeout=300)


def test_dry_run_serves_the_recipes_model_on_the_last_node_and_trains_on_the_others():
    result = dry_run("recipes/zero.yaml", "--report_to", "none", "--max_steps", "5", VLLM_TP="2")
    assert result.returncode == 0, result.stderr
    server, train = (line.split(": ", 1) for line in result.stdout.splitlines())
    assert server[0] == "vLLM server on gpu3" and train[0] == "training on gpu1,gpu2"
    serve = shlex.split(server[1])
    assert serve[:2] == ["trl", "vllm-serve"]
    options = dict(zip(serve[2::2], serve[3::2]))
    # one replica, tensor parallel: TRL's vllm-serve refuses data parallelism for dense models
    assert options == {"--model": "Qwen/Qwen2.5-7B", "--dtype": "bfloat16", "--tensor_parallel_size": "2",
                       "--data_parallel_size": "1", "--host": "0.0.0.0", "--port": "8000", "--max_model_len": "34816"}
    launch = shlex.split(train[1])
    assert launch[:2] == ["accelerate", "launch"]
    accelerate = dict(zip(launch[2:launch.index("-m"):2], launch[3:launch.index("-m"):2]))
    assert accelerate == {"--config_file": "recipes/accelerate/zero3.yaml", "--num_machines": "2",
                          "--num_processes": "16", "--machine_rank": "$SLURM_PROCID",
                          "--main_process_ip": "gpu1", "--main_process_port": "29500"}
    recipe, *overrides = launch[launch.index("-m") + 2:]
    _, args, model_args = load_recipe(REPO / recipe, overrides, check_only=True).configs
    assert (args.use_vllm, args.vllm_mode, args.vllm_server_host, args.vllm_server_port) == (True, "server", "gpu3", 8000)
    assert args.max_steps == 5 and model_args.model_name_or_path == options["--model"]


def test_refuses_one_node_a_recipe_that_is_not_grpo_and_an_uneven_split():
    one = dry_run("recipes/zero.yaml", nodes="gpu1")
    assert one.returncode == 2 and "needs at least 2 (N training nodes + 1 vLLM node)" in one.stderr
    pipeline = dry_run("recipes/r1/pipeline.yaml")
    assert pipeline.returncode != 0 and "is a `pipeline` recipe" in pipeline.stderr
    uneven = dry_run("recipes/zero.yaml", VLLM_TP="3")
    assert uneven.returncode == 2 and "VLLM_TP=3 does not divide GPUS_PER_NODE=8" in uneven.stderr


def test_the_server_is_one_replica_whose_tensor_parallel_size_divides_the_models_attention_heads():
    default = dry_run("recipes/zero.yaml", "--report_to", "none")
    assert default.returncode == 0, default.stderr
    serve = shlex.split(default.stdout.splitlines()[0].split(": ", 1)[1])
    options = dict(zip(serve[2::2], serve[3::2]))
    # Qwen2.5-7B: 28 attention heads, 4 key-value heads: 4 is the largest size vLLM accepts on 8 GPUs
    assert options["--tensor_parallel_size"] == "4" and options["--data_parallel_size"] == "1"
    eight = dry_run("recipes/zero.yaml", "--report_to", "none", VLLM_TP="8")
    assert eight.returncode == 2 and "28 attention heads" in eight.stderr and "[1, 2, 4]" in eight.stderr


@pytest.mark.parametrize("training_nodes", [1, 2, 4])
def test_more_training_nodes_keep_the_recipes_32_questions_x_16_completions_a_step(training_nodes):
    nodes = " ".join(f"gpu{i}" for i in range(training_nodes + 1))
    result = dry_run("recipes/zero.yaml", "--report_to", "none", nodes=nodes)
    assert result.returncode == 0, result.stderr
    processes = 8 * training_nodes
    assert f"valid `grpo` recipe at {processes} processes" in result.stderr
    assert (f"per step: questions 32, completions 512 (2 x {32 // training_nodes} accumulation x {processes} "
            "processes)") in result.stderr
    launch = shlex.split(result.stdout.splitlines()[1].split(": ", 1)[1])
    assert launch[launch.index("--num_processes") + 1] == str(processes)


def test_the_launch_asks_for_the_current_nccl_error_handling_variable():
    text = SCRIPT.read_text()
    assert "export TORCH_NCCL_ASYNC_ERROR_HANDLING=1" in text and "export NCCL_ASYNC_ERROR_HANDLING" not in text
