"""Stage `pipeline`: stages chained by name, done-markers, resume after a kill, the end table."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from helpers import REPO, run_cli, tiny_recipe, write_recipe

from trl_r1.recipe import RecipeError, load_recipe

BENCH = [{"problem": "What is 123456 + 1?", "answer": "123457"}, {"problem": "What is 31337 * 1?", "answer": "31337"}]


def chain(tmp_path: Path, tiny_model: Path, second_steps: int = 2, evaluate: bool = True) -> Path:
    """A pipeline of two GRPO stages (the second trains what the first produced) and an evaluation."""
    (tmp_path / "first.yaml").write_text(yaml.safe_dump(tiny_recipe(tiny_model, tmp_path / "unused")))
    second = tiny_recipe("to be replaced", tmp_path / "unused", max_steps=second_steps, save_steps=1)
    (tmp_path / "second.yaml").write_text(yaml.safe_dump(second))
    (tmp_path / "bench.jsonl").write_text("".join(json.dumps(q) + "\n" for q in BENCH))
    (tmp_path / "eval.yaml").write_text(yaml.safe_dump({
        "stage": "evaluate", "model_name_or_path": "set by the pipeline", "dataset_name": "bench.jsonl",
        "num_samples": 2, "max_new_tokens": 8, "backend": "transformers", "benchmark": "tiny"}))
    pipeline = {
        "stage": "pipeline",
        "output_dir": str(tmp_path / "out"),
        "fresh_process": False,  # quicker; test_each_stage_runs_in_a_process_of_its_own runs the default
        "stages": [
            {"name": "first", "recipe": "first.yaml"},
            {"name": "second", "recipe": "second.yaml", "overrides": {"model_name_or_path": "${first.model}"}},
        ],
    }
    if evaluate:
        pipeline["evaluate"] = {"recipe": "eval.yaml", "overrides": {"dataset_name": str(tmp_path / "bench.jsonl")}}
    return write_recipe(tmp_path / "pipeline.yaml", pipeline)


def test_pipeline_passes_models_on_evaluates_each_and_prints_the_table(tiny_model, tmp_path):
    path = chain(tmp_path, tiny_model)
    values = yaml.safe_load(path.read_text())
    values["evaluate"] = [
        {**values["evaluate"], "greedy": True},  # every model, sampled and greedily
        # Only the first stage's model, on a field naming the second's: it waits until that has run.
        {**values["evaluate"], "name": "late", "stages": ["first"], "metric": "mean_score",
         "overrides": {**values["evaluate"]["overrides"], "benchmark": "${second.model}"}}]
    values["seed"] = 7
    values["stages"][1]["compare_to"] = "start"
    write_recipe(path, values)
    result = run_cli(str(path))
    out = tmp_path / "out"
    first, second = (json.loads((out / name / "stage_done.json").read_text()) for name in ("first", "second"))
    assert first["kind"] == second["kind"] == "grpo" and first["seconds"] > 0
    assert first["summary"]["model"] == str(out / "first")
    # The second stage trained the first one's model: its saved recipe names it. The seed is the pipeline's.
    ran = yaml.safe_load((out / "second" / "recipe.yaml").read_text())
    assert ran["model_name_or_path"] == str(out / "first") and ran["output_dir"] == str(out / "second")
    assert ran["seed"] == 7
    # The starting model and both trained models were evaluated on the same recipe, both ways.
    for name, model in [("start", str(tiny_model)), ("first", str(out / "first")), ("second", str(out / "second"))]:
        for folder, n in ((name, 2), (f"{name}-greedy", 1)):
            metrics = json.loads((out / "eval" / "eval" / folder / "metrics.json").read_text())
            assert metrics["model"] == model and metrics["num_questions"] == 2 and "format_rate" in metrics
            assert metrics["num_samples"] == n and metrics["settings"]["seed"] == 7
    late = json.loads((out / "eval" / "late" / "first" / "metrics.json").read_text())
    assert late["benchmark"] == str(out / "second") and late["model"] == str(out / "first")
    assert not (out / "eval" / "late" / "start").exists()
    table = (out / "pipeline.md").read_text()
    lines = table.splitlines()
    assert lines[0] == "| stage | kind | minutes | key metrics | pass@1 | Δ pass@1 (p) | greedy | Δ greedy (p) | format |"
    assert [line.split(" | ")[0] for line in lines[2:5]] == ["| start", "| first", "| second"]
    assert "reward_first5" in lines[3] and " vs start (p " in lines[3] and lines[2].count("| - |") >= 2
    assert " vs start (p " in lines[4]  # its compare_to, not the row above
    assert "late (eval.yaml):" in table and "| first | 0.000 | - |" in table  # the random model scores 0
    assert table.strip() in result.stdout
    rows = json.loads((out / "pipeline.json").read_text())
    assert [r["stage"] for r in rows] == ["start", "first", "second"]
    second_eval = rows[2]["evaluations"]["eval"]
    assert second_eval["greedy"]["values"] == [0.0, 0.0] and second_eval["sampled"]["vs"] == "start"
    assert second_eval["sampled"]["p"] == 1.0  # the tiny random model scores 0 throughout

    # Run again: everything is done, nothing is trained or evaluated again.
    again = run_cli(str(path))
    assert again.stdout.count("skipped") == 9 and "Resuming" not in again.stdout + again.stderr


@pytest.mark.parametrize("evaluate, message", [
    ({"recipe": "eval.yaml", "stages": ["nope"]}, "stages ['nope']: a list of `start` and stage names"),
    ({"recipe": "eval.yaml", "metric": "pass@2"}, "metric 'pass@2' is not one of pass@1, mean_score"),
    ({"recipe": "eval.yaml", "greedyy": True}, "a mapping with `recipe` and optional"),
    ([{"recipe": "eval.yaml"}, {"recipe": "eval.yaml"}], "name 'eval' must be an identifier, one per evaluation"),
])
def test_invalid_evaluations_fail_before_anything_runs(tmp_path, evaluate, message):
    values = pipeline_values(tmp_path, [{"name": "a", "recipe": "a.yaml"}], evaluate=evaluate)
    (tmp_path / "eval.yaml").write_text(yaml.safe_dump({"stage": "evaluate", "model_name_or_path": "m",
                                                         "dataset_name": "builtin:arithmetic"}))
    write_recipe(tmp_path / "pipe.yaml", values)
    with pytest.raises(RecipeError) as error:
        load_recipe(tmp_path / "pipe.yaml")
    assert message in str(error.value)


def test_an_evaluation_naming_a_stage_that_trains_no_language_model_is_refused(tmp_path):
    values = pipeline_values(tmp_path, [{"name": "a", "recipe": "a.yaml"}, {"name": "s", "recipe": "sample.yaml"}],
                             evaluate=[{"recipe": "eval.yaml", "stages": ["start", "a", "s"]}])
    (tmp_path / "eval.yaml").write_text(yaml.safe_dump({"stage": "evaluate", "model_name_or_path": "m",
                                                         "dataset_name": "builtin:arithmetic"}))
    write_recipe(tmp_path / "pipe.yaml", values)
    with pytest.raises(RecipeError, match=r"evaluate \(eval\): stages \['s'\] train no language model to "
                                          r"evaluate; these do: start, a"):
        load_recipe(tmp_path / "pipe.yaml")


def test_killed_pipeline_resumes_without_redoing_finished_stages(tiny_model, tmp_path):
    pipeline = chain(tmp_path, tiny_model, second_steps=40, evaluate=False)
    out = tmp_path / "out"
    env = {**os.environ, "TOKENIZERS_PARALLELISM": "false", "HF_HUB_OFFLINE": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "trl_r1", str(pipeline)], cwd=REPO, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 240
        while not list((out / "second").glob("checkpoint-*/trainer_state.json")):
            assert proc.poll() is None, "the pipeline ended before it could be interrupted"
            assert time.monotonic() < deadline, "the second stage never wrote a checkpoint"
            time.sleep(0.2)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    marker = out / "first" / "stage_done.json"
    first_written = marker.stat().st_mtime_ns
    assert not (out / "second" / "stage_done.json").exists()

    result = run_cli(str(pipeline), "--output_dir", str(out))
    assert "first: done before" in result.stdout and "skipped" in result.stdout
    assert "Resuming from" in result.stdout + result.stderr  # the second stage continued its checkpoint
    assert marker.stat().st_mtime_ns == first_written
    state = json.loads((out / "second" / "trainer_state.json").read_text())
    assert state["global_step"] == 40
    assert json.loads((out / "second" / "stage_done.json").read_text())["kind"] == "grpo"


def pipeline_values(tmp_path: Path, stages: list, **extra) -> dict:
    for name in ("a.yaml", "b.yaml"):
        (tmp_path / name).write_text(yaml.safe_dump(tiny_recipe("some/model", tmp_path / "unused")))
    (tmp_path / "sample.yaml").write_text(yaml.safe_dump(
        {"stage": "sample", "model_name_or_path": "some/model", "dataset_name": "builtin:arithmetic"}))
    return {"stage": "pipeline", "output_dir": str(tmp_path / "out"), "stages": stages, **extra}


@pytest.mark.parametrize("stages, message", [
    ([], "at least one stage"),
    ([{"name": "a", "recipe": "missing.yaml"}], "no such recipe file"),
    ([{"name": "a", "recipe": "a.yaml"}, {"name": "a", "recipe": "b.yaml"}], "two stages are named 'a'"),
    ([{"name": "a", "recipe": "a.yaml", "overides": {}}], "unknown key(s) ['overides']"),
    ([{"name": "a", "recipe": "a.yaml", "overrides": {"model_name_or_path": "${b.model}"}}], "refers to no earlier stage"),
    ([{"name": "a", "recipe": "a.yaml"}, {"name": "b", "recipe": "b.yaml",
                                           "overrides": {"dataset_name": "${a.dataset}"}}], "stage 'a' produced no 'dataset'"),
    ([{"name": "s", "recipe": "sample.yaml"}, {"name": "b", "recipe": "b.yaml",
                                               "overrides": {"model_name_or_path": "${s.model}"}}], "stage 's' produced no 'model'"),
    ([{"name": "a", "recipe": "a.yaml", "overrides": {"learning_rat": 1}}], "Did you mean `learning_rate`"),
    ([{"name": "a", "recipe": "pipe.yaml"}], "cannot contain a pipeline"),
    ([{"name": "a", "recipe": "a.yaml", "compare_to": "b"}, {"name": "b", "recipe": "b.yaml"}],
     "compare_to 'b' is not `start` or an earlier stage"),
    ([{"name": "start", "recipe": "a.yaml"}], "'start' names the starting model"),
])
def test_invalid_pipelines_fail_before_anything_runs(tmp_path, stages, message):
    values = pipeline_values(tmp_path, stages)
    write_recipe(tmp_path / "pipe.yaml", values)
    with pytest.raises(RecipeError) as error:
        load_recipe(tmp_path / "pipe.yaml")
    assert message in str(error.value)


def test_stage_recipes_are_found_next_to_the_pipeline_file(tmp_path, monkeypatch):
    values = pipeline_values(tmp_path, [{"name": "a", "recipe": "a.yaml"},
                                        {"name": "b", "recipe": "b.yaml", "overrides": {"model_name_or_path": "${a.model}"}}])
    path = write_recipe(tmp_path / "pipe.yaml", values)
    monkeypatch.chdir(REPO)  # not the pipeline's folder
    recipe = load_recipe(path)
    assert recipe.configs[0].base_dir == str(tmp_path)


def test_a_stage_process_gets_its_own_port_and_store_or_runs_alone():
    """Training stages run on every rank and form their own process group, on a port derived from
    the stage's name (the pipeline's processes keep MASTER_PORT), whose store rank 0 hosts (under
    torchrun the launcher's agent hosts the pipeline's: a stage inheriting that setting waited
    forever); single-process stages run alone."""
    from types import SimpleNamespace

    from trl_r1.stages import get_stage
    from trl_r1.stages.pipeline import Step, child_command

    places = {"cold_start": 0, "reasoning_rl": 1, "rejection_sampling": 2, "sft": 3}

    def command(name, kind, rank):
        step = Step(name, Path(f"{name}.yaml"), {}, True, Path("out") / name, index=places[name])
        env = {"RANK": str(rank), "WORLD_SIZE": "8", "MASTER_ADDR": "10.0.0.1", "MASTER_PORT": "29500",
               "TORCHELASTIC_USE_AGENT_STORE": "True"}  # as torchrun sets it
        with pytest.MonkeyPatch.context() as patch:
            for key, value in env.items():
                patch.setenv(key, value)
            return child_command(step, SimpleNamespace(stage=get_stage(kind)), Path("r.yaml"), Path("s.json"))

    argv, env = command("reasoning_rl", "grpo", 0)
    assert argv[1:] == ["-m", "trl_r1.run_stage", "r.yaml", "s.json"]
    assert env["MASTER_PORT"] != "29500" and env["WORLD_SIZE"] == "8"
    assert "TORCHELASTIC_USE_AGENT_STORE" not in env  # rank 0 hosts the stage's store on its port
    assert command("reasoning_rl", "grpo", 5)[1]["MASTER_PORT"] == env["MASTER_PORT"]  # every rank agrees
    assert env["MASTER_PORT"] == "29502"  # one port per place in the chain: no two stages share one
    assert command("sft", "sft", 0)[1]["MASTER_PORT"] == "29504"
    alone = command("rejection_sampling", "sample", 0)[1]
    assert not {"RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT"} & set(alone)


def test_a_rank_waiting_for_the_main_process_stops_when_the_stage_failed_there_or_after_its_bound(tmp_path):
    """A stage the main process runs alone (sample, evaluate): the other ranks wait for its marker,
    stop at once with its error when it failed (a failure from an earlier run is not this one's),
    and stop after `stage_wait_hours` when nothing comes (the main process died)."""
    import threading

    from trl_r1.stages.pipeline import DONE_FILE, FAILED_FILE, Step, _wait_for_marker

    step = Step("rejection", Path("r.yaml"), {}, True, tmp_path / "rejection")
    step.output_dir.mkdir()
    failed = step.output_dir / FAILED_FILE
    failed.write_text(json.dumps({"error": "OSError: an earlier run's"}))
    os.utime(failed, (time.time() - 3600, time.time() - 3600))
    threading.Timer(0.3, lambda: (step.output_dir / DONE_FILE).write_text('{"summary": {"kept": 3}}')).start()
    assert _wait_for_marker(step, hours=1, since=time.time(), poll=0.05) == {"summary": {"kept": 3}}

    (step.output_dir / DONE_FILE).unlink()
    since = time.time()
    failed.write_text(json.dumps({"error": "ValueError: no prompt kept"}))
    with pytest.raises(RuntimeError, match="failed on the main process: ValueError: no prompt kept"):
        _wait_for_marker(step, hours=1, since=since, poll=0.05)
    failed.unlink()
    with pytest.raises(TimeoutError, match="larger `stage_wait_hours`"):
        _wait_for_marker(step, hours=0.2 / 3600, since=since, poll=0.05)


RANK_SCRIPT = """
import datetime, os, sys
from pathlib import Path
from types import SimpleNamespace

import torch.distributed as dist

from trl_r1.stages import get_stage, pipeline

dist.init_process_group("gloo", timeout=datetime.timedelta(seconds=20))  # as the recipes' TrainingArguments do
pipeline._run_in_child = lambda step, recipe: ({"model": str(step.output_dir)}, os.getpid())  # the stage's processes
for name in ("cold_start", "reasoning_rl", "sft"):
    step = pipeline.Step(name, Path(name + ".yaml"), {}, True, Path(sys.argv[1]) / name)
    marker = pipeline._run_once(step, SimpleNamespace(stage=get_stage("sft")), fresh_process=True)
    print(name, marker["summary"]["model"], flush=True)
"""


def test_the_ranks_of_a_pipeline_of_fresh_stage_processes_go_from_stage_to_stage_together(tmp_path):
    """Two ranks with a real process group, each stage's processes stood in for: every rank gets
    every stage's marker. (The main process used to wait at a barrier after each stage while the
    other ranks waited for its marker: `accelerate launch` of a pipeline hung after stage 1.)"""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    ranks = [subprocess.Popen([sys.executable, "-c", RANK_SCRIPT, str(tmp_path)], stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True,
                              env={**os.environ, "RANK": str(rank), "WORLD_SIZE": "2", "MASTER_ADDR": "127.0.0.1",
                                   "MASTER_PORT": str(port)}) for rank in (0, 1)]
    for rank in ranks:
        output = rank.communicate(timeout=120)[0]
        assert rank.returncode == 0, output[-3000:]
        markers = [words[0] for words in map(str.split, output.splitlines())
                   if len(words) == 2 and words[1] == str(tmp_path / words[0])]
        assert markers == ["cold_start", "reasoning_rl", "sft"], output[-3000:]


@pytest.mark.slow  # three fresh processes, each importing the training stack
def test_each_stage_runs_in_a_process_of_its_own_that_is_gone_when_the_next_starts(tiny_model, tmp_path):
    """What frees a stage's vLLM and DeepSpeed engines between stages: each stage runs in its own
    process, which has exited (and with it everything it held) before the next stage starts."""
    from helpers import CPU_TRAINING, run_recipe

    (tmp_path / "chat.jsonl").write_text(json.dumps({"messages": [
        {"role": "user", "content": "What is 1 + 1?"}, {"role": "assistant", "content": "<think>1+1</think> 2"}]}) + "\n")
    sft = {"stage": "sft", "model_name_or_path": str(tiny_model), "dataset_name": str(tmp_path / "chat.jsonl"),
           "max_steps": 1, "max_length": 64, "per_device_train_batch_size": 1, **CPU_TRAINING}
    (tmp_path / "sft.yaml").write_text(yaml.safe_dump(sft))
    stages = [{"name": "a", "recipe": "sft.yaml"},
              {"name": "b", "recipe": "sft.yaml", "overrides": {"model_name_or_path": "${a.model}"}}]
    out = tmp_path / "out"
    run_recipe({"stage": "pipeline", "output_dir": str(out), "base_dir": str(tmp_path), "stages": stages})
    a, b = (json.loads((out / name / "stage_done.json").read_text()) for name in "ab")
    assert len({a["pid"], b["pid"], os.getpid()}) == 3 and a["summary"]["model"] == str(out / "a")
    for pid in (a["pid"], b["pid"]):
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)  # exited

    stages.append({"name": "c", "recipe": "sft.yaml", "overrides": {"dataset_prompt_column": "nope",
                                                                     "dataset_messages_column": "nope"}})
    with pytest.raises(RuntimeError, match=r"stage 'c' failed in its process \(exit code 1\)"):
        run_recipe({"stage": "pipeline", "output_dir": str(out), "base_dir": str(tmp_path), "stages": stages})
    assert not (out / "c" / "stage_done.json").exists()
