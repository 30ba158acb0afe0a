"""The shipped miniature R1 chain (recipes/tiny/pipeline.yaml's links), every stage kind in one
pipeline, on the tiny random model: the recipes, their overrides and the artifacts passed
between stages all work together. (The real run on the 135M model takes ~30 min: README.)"""

from __future__ import annotations

import json

import yaml
from datasets import load_from_disk
from helpers import REPO, JudgeServer, run_cli, write_recipe

TINY = REPO / "recipes" / "tiny"
QUICK = {"max_steps": 2, "logging_steps": 1}
GRPO_QUICK = {**QUICK, "num_generations": 4, "per_device_train_batch_size": 4, "max_completion_length": 8}


def test_every_link_of_the_tiny_chain_runs_and_hands_its_artifact_on(tiny_model, tmp_path):
    shipped = yaml.safe_load((REPO / "recipes" / "tiny" / "pipeline.yaml").read_text())
    judge = JudgeServer(rule=lambda question, reference, answer: True)  # random text: let the judge keep it
    try:
        overrides = {
            "cold_start": {"model_name_or_path": str(tiny_model), "max_train_samples": 16, **QUICK},
            "reasoning_rl": {**GRPO_QUICK, "max_train_samples": 8},
            "rejection_sampling": {"max_questions": 4, "num_samples": 2, "max_new_tokens": 8, "batch_size": 4,
                                   "scorer": None, "judge_url": judge.url, "judge_model": "test-judge",
                                   "require_reasoning": False, "language_threshold": 0.0, "max_paragraph_chars": 100000},
            "sft": {"model_name_or_path": str(tiny_model), **QUICK},
            "safety_rm": {"model_name_or_path": str(tiny_model), **QUICK},
            "helpfulness_rm": {"model_name_or_path": str(tiny_model), **QUICK},
            "all_scenarios": {**GRPO_QUICK, "per_device_train_batch_size": 8},
            "student_rl": {"model_name_or_path": str(tiny_model), **GRPO_QUICK, "max_train_samples": 8},
        }
        small = {"max_questions": 2, "num_samples": 2, "max_new_tokens": 8, "batch_size": 4}
        stages = []
        for entry in shipped["stages"]:
            # The shipped overrides (artifact references, stage 4's rewards) stay; ours shrink the run.
            merged = {**entry.get("overrides", {}), **overrides[entry["name"]]}
            stages.append({**entry, "recipe": str(TINY / entry["recipe"]), "overrides": merged})
        # The shipped evaluations too (their references to the reward models included), on 2 questions.
        evaluations = [{**spec, "recipe": str(TINY / spec["recipe"]), "overrides": {**spec.get("overrides", {}), **small}}
                       for spec in shipped["evaluate"]]
        pipeline = write_recipe(tmp_path / "pipeline.yaml", {
            "stage": "pipeline", "output_dir": str(tmp_path / "out"), "stages": stages, "evaluate": evaluations,
            "fresh_process": False})  # quicker; test_pipeline.py tests the fresh processes
        result = run_cli(str(pipeline), timeout=900)
    finally:
        judge.close()

    out = tmp_path / "out"
    markers = {p.parent.name: json.loads(p.read_text()) for p in out.glob("*/stage_done.json")}
    assert {name: m["kind"] for name, m in markers.items()} == {
        "cold_start": "sft", "reasoning_rl": "grpo", "rejection_sampling": "sample", "sft": "sft",
        "safety_rm": "reward_model", "helpfulness_rm": "reward_model", "all_scenarios": "grpo", "student_rl": "grpo"}
    ran = {name: yaml.safe_load((out / name / "recipe.yaml").read_text())
           for name in markers if (out / name / "recipe.yaml").is_file()}
    # Each stage was handed what the one before produced.
    assert ran["reasoning_rl"]["model_name_or_path"] == str(out / "cold_start")
    assert ran["sft"]["dataset_name"] == str(out / "rejection_sampling" / "dataset")
    assert ran["all_scenarios"]["model_name_or_path"] == str(out / "sft")
    models = {r["name"]: r.get("kwargs", {}).get("model") for r in ran["all_scenarios"]["rewards"]}
    assert models["safety"] == str(out / "safety_rm") and models["helpfulness"] == str(out / "helpfulness_rm")
    # The sampled dataset mixes reasoning and general rows, in the format the SFT stages read.
    data = load_from_disk(str(out / "rejection_sampling" / "dataset"))
    assert {"messages", "task"} <= set(data.column_names) and set(data["task"]) == {"reasoning", "general"}
    stats = json.loads((out / "rejection_sampling" / "stats.json").read_text())
    assert stats["samples"] == stats["kept"] + sum(stats["rejected"].values()) and stats["kept"] > 0
    # Stage 4 logged both kinds of reward: rules on reasoning rows, reward models on general ones.
    logged = [json.loads(line) for line in (out / "all_scenarios" / "metrics.jsonl").read_text().splitlines()]
    keys = set().union(*logged)
    assert {"rewards/number/mean", "rewards/safety/mean", "rewards/helpfulness/mean"} <= keys
    # RL on the student (the base model) is compared with its distillation (stage 3's SFT).
    rows = {row["stage"]: row for row in json.loads((out / "pipeline.json").read_text())}
    assert rows["student_rl"]["evaluations"]["arithmetic"]["sampled"]["vs"] == "sft"
    assert rows["sft"]["evaluations"]["arithmetic"]["greedy"]["vs"] == "reasoning_rl"
    # Stage 4's general rewards, measured by the chain's own reward models before and after it.
    for name in ("helpfulness", "safety"):
        assert set(rows) - {s for s, row in rows.items() if name in row["evaluations"]} == set(rows) - {"sft", "all_scenarios"}
        after = rows["all_scenarios"]["evaluations"][name]["sampled"]
        assert after["vs"] == "sft" and isinstance(after["mean_score"], float)  # a regressor's score is unbounded
    assert 0.0 <= rows["sft"]["evaluations"]["safety"]["sampled"]["mean_score"] <= 1.0  # a probability
    settings = json.loads((out / "eval" / "safety" / "sft" / "metrics.json").read_text())["settings"]
    assert settings["scorer"] == "safety" and settings["scorer_kwargs"]["model"] == str(out / "safety_rm")
    assert "| student_rl | grpo |" in result.stdout and "safety (tiny_general.yaml):" in result.stdout
