"""examples/slurm/train.slurm: the commands it would run on N training nodes + 1 vLLM node,
printed by its dry run (no SLURM here), and its refusals."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys

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
    assert options == {"--model": "Qwen/Qwen2.5-7B", "--dtype": "bfloat16", "--tensor_parallel_size": "2",
                       "--data_parallel_size": "4", "--host": "0.0.0.0", "--port": "8000", "--max_model_len": "34816"}
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
