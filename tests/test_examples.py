"""The examples run for real: the third-party reward plugin is pip-installed (into a folder of
its own, never into the environment running the tests) and used by name through
``python -m trl_r1``; the plain TRL script trains a step.

Everything that uses the plugin runs in a new interpreter with that folder on ``PYTHONPATH``: its
entry point is read from the installed metadata there, as from any installed distribution.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from helpers import REPO, tiny_recipe, write_recipe

EXAMPLES = REPO / "examples"
PLUGIN_DIST = "trl-r1-example-reward-plugin"
ENV = {**os.environ, "TOKENIZERS_PARALLELISM": "false", "HF_HUB_OFFLINE": "1"}


def pip(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pip", "--disable-pip-version-check", *args],
                          capture_output=True, text=True, timeout=120)


def python(*argv: str, timeout: float = 300, path: Path | None = None) -> subprocess.CompletedProcess:
    """``python ARGV`` in a fresh interpreter (offline; ``path`` first on ``PYTHONPATH``); fails
    the test on a non-zero exit."""
    env = ENV if path is None else {**ENV, "PYTHONPATH": os.pathsep.join(filter(None, [str(path), ENV.get("PYTHONPATH")]))}
    result = subprocess.run([sys.executable, *argv], capture_output=True, text=True, timeout=timeout, env=env, cwd=REPO)
    assert result.returncode == 0, f"exit {result.returncode}\nstdout:\n{result.stdout[-3000:]}\nstderr:\n{result.stderr[-5000:]}"
    return result


@pytest.fixture(scope="module")
def reward_plugin(tmp_path_factory) -> Path:
    """examples/reward_plugin, really pip-installed (from a copy, so the build leaves nothing in
    the repository) into a folder of its own (``--target``): the folder to put on ``PYTHONPATH``.
    The running environment is never changed (tested)."""
    source = tmp_path_factory.mktemp("plugin") / "reward_plugin"
    shutil.copytree(EXAMPLES / "reward_plugin", source)
    target = tmp_path_factory.mktemp("plugin-site")
    installed = pip("install", "--no-deps", "--no-build-isolation", "--target", str(target), str(source))
    assert installed.returncode == 0, installed.stdout + installed.stderr
    assert any(target.glob("*.dist-info/entry_points.txt")), "the plugin was installed without its entry points"
    return target


def test_the_plugin_is_not_installed_in_the_environment_running_the_tests(reward_plugin):
    assert pip("show", PLUGIN_DIST).returncode != 0
    assert "brevity" not in python("-c", "from trl_r1_rewards import available_rewards; print(available_rewards())").stdout


def read_metrics(output_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (output_dir / "metrics.jsonl").read_text().splitlines() if line.strip()]


def test_installed_plugin_is_found_by_name(reward_plugin):
    out = python("-c", textwrap.dedent("""
        import json
        from trl_r1_rewards import available_rewards, load_reward

        reward = load_reward("brevity", target_chars=4)
        try:
            load_reward("brevity", max_chars=4)
            error = None
        except TypeError as e:
            error = str(e)
        print(json.dumps({
            "available": available_rewards(),
            "name": reward.__name__,
            "scores": reward(prompts=["q"] * 4, completions=["abc", "abcdef", "x" * 100, [{"role": "assistant", "content": "ab"}]]),
            "garbage": reward(prompts=[None, 3], completions=[None, {"content": 5}]),
            "error": error,
        }))
    """), path=reward_plugin)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert "brevity" in result["available"] and "accuracy" in result["available"]
    assert result["name"] == "brevity"
    assert result["scores"] == [1.0, 0.5, 0.0, 1.0]
    assert result["garbage"] == [1.0, 1.0]
    assert "max_chars" in result["error"] and "target_chars=200" in result["error"]


def test_recipe_trains_with_plugin_reward_by_name(reward_plugin, tiny_model, tmp_path):
    recipe = tiny_recipe(tiny_model, tmp_path / "out", rewards=["accuracy", {"name": "brevity", "kwargs": {"target_chars": 20}}])
    python("-m", "trl_r1", str(write_recipe(tmp_path / "r.yaml", recipe)), timeout=120, path=reward_plugin)
    logged = [m for m in read_metrics(tmp_path / "out") if "rewards/brevity/mean" in m]
    assert logged, "rewards/brevity/mean was never logged"
    assert all(0.0 <= m["rewards/brevity/mean"] <= 1.0 for m in logged)


def test_plugin_scorer_runs_through_evaluate_with_cons_at_k(reward_plugin, tiny_model, tmp_path):
    """A third-party reward that describes itself (gold_option, final_answer, group_answers) is
    a scorer like ours: its gold column comes from the recipe, its final answers are recorded and
    voted on, with no change to trl_r1."""
    data = tmp_path / "q.jsonl"
    data.write_text("".join(json.dumps({"question": f"Capital number {i}?", "gold": "Paris"}) + "\n" for i in range(2)))
    recipe = write_recipe(tmp_path / "eval.yaml", {
        "stage": "evaluate", "model_name_or_path": str(tiny_model), "dataset_name": str(data),
        "problem_column": "question", "answer_column": "gold", "scorer": "exact_answer", "num_samples": 2,
        "max_new_tokens": 8, "backend": "transformers", "dtype": "float32", "output_dir": str(tmp_path / "out")})
    python("-m", "trl_r1", str(recipe), timeout=300, path=reward_plugin)
    metrics = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert "cons@2" in metrics and metrics["pass@1"] == 0.0  # a random tiny model never writes "Answer: Paris"
    samples = [json.loads(line) for line in (tmp_path / "out" / "samples.jsonl").read_text().splitlines()]
    check = python("-c", textwrap.dedent(f"""
        import json
        from trl_r1_rewards import load_reward
        reward = load_reward("exact_answer")
        print(json.dumps([reward.final_answer(c) for c in {[s["completion"] for s in samples]!r}]))
    """), path=reward_plugin)
    assert [s["answer"] for s in samples] == json.loads(check.stdout.strip().splitlines()[-1])


def test_plain_trl_script_uses_both_rewards(tiny_model, tmp_path):
    out = python(str(EXAMPLES / "plain_trl_rewards.py"), "--model", str(tiny_model),
                 "--max_steps", "1", "--output_dir", str(tmp_path / "out"))
    summary = [line for line in out.stdout.splitlines() if line.startswith("step 1:")]
    assert summary, out.stdout[-3000:]
    assert "rewards/accuracy/mean=" in summary[0] and "rewards/format/mean=" in summary[0]
