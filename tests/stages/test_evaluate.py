"""Stage `evaluate` end to end through the real CLI and real generation on the tiny model."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers import run_cli, write_recipe

from trl_r1.recipe import RecipeError, load_recipe

# Golds a random 2-layer model will not produce by chance.
QUESTIONS = [
    {"problem": "What is 123456 + 1?", "answer": "123457"},
    {"problem": "Compute \\frac{987}{1013} \\cdot 1.", "answer": "\\frac{987}{1013}"},
    {"problem": "What is 31337 * 1?", "answer": "31337"},
]


def eval_recipe(model: Path, data: Path, out: Path, **overrides) -> dict:
    recipe = {
        "stage": "evaluate", "model_name_or_path": str(model), "dataset_name": str(data),
        "num_samples": 2, "max_new_tokens": 12, "batch_size": 2, "backend": "transformers",
        "benchmark": "tiny-math", "output_dir": str(out),
    }
    recipe.update(overrides)
    return recipe


@pytest.fixture
def bench_file(tmp_path) -> Path:
    path = tmp_path / "bench.jsonl"
    path.write_text("".join(json.dumps(q) + "\n" for q in QUESTIONS))
    return path


def samples(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "samples.jsonl").read_text().splitlines()]


def test_tiny_model_evaluates_a_local_file(tiny_model, bench_file, tmp_path):
    out = tmp_path / "out"
    recipe = write_recipe(tmp_path / "eval.yaml", eval_recipe(tiny_model, bench_file, out))
    result = run_cli(str(recipe))
    rows = samples(out)
    assert [(r["question"], r["sample"]) for r in rows] == [(q, s) for q in range(3) for s in range(2)]
    assert all(r["score"] == 0.0 and r["num_tokens"] >= 1 for r in rows)
    assert rows[2]["gold"] == "\\frac{987}{1013}" and rows[2]["problem"] == QUESTIONS[1]["problem"]
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["benchmark"] == "tiny-math" and metrics["num_questions"] == 3 and metrics["num_samples"] == 2
    assert (metrics["pass@1"], metrics["pass@2"], metrics["cons@2"]) == (0.0, 0.0, 0.0)
    assert metrics["mean_response_tokens"] == pytest.approx(sum(r["num_tokens"] for r in rows) / 6)
    assert metrics["settings"]["temperature"] == 0.6 and metrics["settings"]["top_p"] == 0.95
    assert "reflection_per_1k_words" in metrics
    table = (out / "results.md").read_text()
    assert table.startswith("| benchmark | model | n | pass@1 | pass@2 | cons@2 |") and table in result.stdout + "\n"


def test_interrupted_evaluation_resumes_skipping_finished_questions(tiny_model, bench_file, tmp_path):
    out = tmp_path / "out"
    recipe = write_recipe(tmp_path / "eval.yaml", eval_recipe(tiny_model, bench_file, out))
    out.mkdir()
    # As a crashed run leaves it: question 1 finished (both samples right, as if a good model
    # had answered), question 0 half written, the last line cut mid-write.
    finished = [{"question": 1, "sample": j, "problem": QUESTIONS[1]["problem"], "gold": QUESTIONS[1]["answer"],
                 "completion": "<think>wait</think> \\boxed{\\frac{987}{1013}}", "answer": "\\frac{987}{1013}",
                 "boxed": True, "score": 1.0, "num_tokens": 9} for j in range(2)]
    partial = {**finished[0], "question": 0, "gold": QUESTIONS[0]["answer"]}
    (out / "samples.jsonl").write_text(
        json.dumps(finished[0]) + "\n" + json.dumps(partial) + "\n" + json.dumps(finished[1]) + "\n" + '{"question": 2, "sam')
    result = run_cli(str(recipe), "--max_questions", "3")
    assert "Resuming: 1 of 3 questions already evaluated" in result.stdout
    rows = samples(out)
    assert rows[:2] == finished  # kept as they were: not generated again
    assert sorted((r["question"], r["sample"]) for r in rows) == [(q, s) for q in range(3) for s in range(2)]
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["pass@1"] == pytest.approx(1 / 3) and metrics["cons@2"] == pytest.approx(1 / 3)

    # Running it again finds everything done and generates nothing.
    again = run_cli(str(recipe))
    assert "Resuming: 3 of 3" in again.stdout and samples(out) == rows

    # A different setting in the same output_dir is refused, not mixed in.
    refused = run_cli(str(recipe), "--temperature", "1.0", check=False)
    assert refused.returncode != 0 and "temperature" in refused.stderr


def test_model_flag_and_validation(tmp_path):
    values = eval_recipe(Path("/nonexistent"), Path("builtin:arithmetic"), tmp_path)
    recipe = load_recipe(None, ["--model", "other/model", "--num_samples", "64"], values=values)
    (config,) = recipe.configs
    assert config.model_name_or_path == "other/model" and config.num_samples == 64
    assert config.max_new_tokens == 12 and config.sampling.temperature == 0.6
    for bad, field in [({"num_samples": 0}, "num_samples"), ({"scorer": "acuracy"}, "acuracy"),
                       ({"scorer_kwargs": {"colour": 1}}, "colour"), ({"temperature": -1.0}, "temperature"),
                       ({"temperature": 0.0}, "num_samples: greedy decoding"),
                       ({"model_name_or_path": None}, "model_name_or_path")]:
        with pytest.raises(RecipeError, match=field):
            load_recipe(None, values={**values, **bad})


def test_temperature_zero_decodes_greedily_one_answer_per_question(tiny_model, bench_file, tmp_path):
    out = tmp_path / "greedy"
    recipe = write_recipe(tmp_path / "eval.yaml", eval_recipe(tiny_model, bench_file, out, temperature=0.0, num_samples=1))
    run_cli(str(recipe))
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["num_samples"] == 1 and metrics["settings"]["temperature"] == 0.0
    assert "pass@1_stderr" in metrics
    again = tmp_path / "again"
    run_cli(str(recipe), "--output_dir", str(again), "--seed", "7")
    assert [r["completion"] for r in samples(again)] == [r["completion"] for r in samples(out)]  # no randomness


def test_a_trained_model_folder_is_evaluated_with_the_prompt_it_was_trained_with(tiny_model, bench_file, tmp_path):
    import shutil

    from trl_r1.data.templates import PromptArguments

    model = tmp_path / "trained"
    shutil.copytree(tiny_model, model)
    examples = [{"role": "user", "content": "What is 2 + 3?"}, {"role": "assistant", "content": "5"}]
    PromptArguments(system_prompt="Be brief.", chat_examples=examples).save_prompt(model)
    out = tmp_path / "out"
    recipe = write_recipe(tmp_path / "eval.yaml", eval_recipe(model, bench_file, out, max_questions=1))
    result = run_cli(str(recipe))
    assert f"Prompt: the one the model was trained with, from {model / 'prompt.json'}" in result.stdout
    settings = json.loads((out / "metrics.json").read_text())["settings"]
    assert (settings["system_prompt"], settings["chat_examples"]) == ("Be brief.", examples)


@pytest.mark.parametrize("name", ["aime24", "math500", "gpqa_diamond", "livecodebench"])
def test_benchmark_recipes_use_the_papers_sampling(name, tmp_path):
    # livecodebench reads the file convert-lcb writes
    data = ["--dataset_name", str((tmp_path / "lcb.jsonl").resolve())] if name == "livecodebench" else []
    if data:
        (tmp_path / "lcb.jsonl").write_text("{}\n")
    (config,) = load_recipe(Path(__file__).resolve().parents[2] / f"recipes/eval/{name}.yaml", data,
                            check_only=True).configs
    assert (config.temperature, config.top_p, config.max_new_tokens) == (0.6, 0.95, 32768)
    assert config.benchmark == name and 4 <= config.num_samples <= 64 and config.dataset_name
    assert config.scorer == {"livecodebench": "code", "gpqa_diamond": "choice"}.get(name, "accuracy")


def test_compare_renders_results_side_by_side_with_the_paper(tmp_path):
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    a.write_text(json.dumps({"benchmark": "aime24", "model": "mine", "pass@1": 0.125}))
    b.write_text(json.dumps({"benchmark": "math500", "model": "mine", "pass@1": 0.5}))
    out = run_cli("compare", str(a), str(b), "--paper").stdout
    assert "| model | aime24 | math500 | gpqa_diamond | livecodebench |" in out
    assert "| mine | 12.5 | 50.0 | - | - |" in out
    assert "| R1-Distill-Qwen-7B (paper) | 55.5 | 92.8 | - | 37.6 |" in out
    bad = run_cli("compare", str(tmp_path / "missing.json"), check=False)
    assert bad.returncode == 2 and "missing.json" in bad.stderr


def test_multiple_choice_is_shuffled_into_the_prompt_and_scored_by_letter(tiny_model, tmp_path):
    data = tmp_path / "mc.jsonl"
    data.write_text("".join(json.dumps(q) + "\n" for q in [
        {"Question": "Which is a noble gas?", "right": "Neon", "wrong1": "Iron", "wrong2": "Tin"},
        {"Question": "2 + 2 = ?", "right": "4", "wrong1": "5", "wrong2": "22"},
    ]))
    out = tmp_path / "out"
    recipe = write_recipe(tmp_path / "mc.yaml", eval_recipe(
        tiny_model, data, out, problem_column="Question", choice_columns=["right", "wrong1", "wrong2"],
        answer_column="answer", scorer="choice"))
    run_cli(str(recipe))
    rows = samples(out)
    assert len(rows) == 4
    for row in rows:
        right = "Neon" if row["question"] == 0 else "4"
        assert f"({row['gold']}) {right}" in row["problem"]  # the gold letter names the right answer
        assert {"(A)", "(B)", "(C)"} <= set(row["problem"].split())
        assert row["score"] in (0.0, 1.0)
        assert row["answer"] is None or row["answer"] in "ABC"  # the letter read, what cons@n votes on
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["num_questions"] == 2 and 0.0 <= metrics["pass@1"] <= 1.0 and 0.0 <= metrics["cons@2"] <= 1.0


def test_cons_at_k_for_multiple_choice_votes_over_the_chosen_letters():
    """Hand-computed: the scorer's letters are the votes; equal letters are one answer."""
    from trl_r1_rewards import load_reward

    from trl_r1.generation.backends import Completion
    from trl_r1.generation.evaluation import EvalConfig, _score
    from trl_r1.generation.metrics import summarize

    config = EvalConfig(model_name_or_path="m", dataset_name="d", scorer="choice", answer_column="answer")
    scorer = load_reward("choice", solution_column="answer")
    questions = [  # gold, then four completions
        ("B", [r"<think>..</think> \boxed{B}", "The answer is (C)", r"\boxed{\text{b}}", "<think>never finished"]),
        ("A", ["Answer: C", r"\boxed{A}", "the answer is **C**", "A"]),
        ("D", ["I do not know.", "Answer: (D)", "it is a number", "<think>D</think> no idea"]),
    ]
    rows = [_score(config, scorer, i, {"problem": f"q{i}", "answer": gold}, f"q{i}",
                   [Completion(text, 3) for text in texts]) for i, (gold, texts) in enumerate(questions)]
    assert [[r["answer"] for r in q] for q in rows] == [["B", "C", "B", None], ["C", "A", "C", "A"],
                                                         [None, "D", None, None]]
    metrics = summarize(rows, [], scorer.group_answers)
    # q0: B 2 votes, C 1 -> B, right. q1: C 2, A 2, a tie: C came first -> wrong. q2: D alone -> right.
    assert metrics["cons@4"] == pytest.approx(2 / 3)
    assert metrics["pass@1"] == pytest.approx((2 / 4 + 2 / 4 + 1 / 4) / 3)


def test_tiny_arithmetic_recipe_scores_the_last_number_with_the_training_prompt():
    repo = Path(__file__).resolve().parents[2]
    (config,) = load_recipe(repo / "recipes/eval/tiny_arithmetic.yaml").configs
    (_, training, _) = load_recipe(repo / "recipes/tiny/zero.yaml").configs
    assert config.scorer == "number" and config.dataset_split == "test"
    assert [getattr(config, k) for k in ("prompt_template", "system_prompt", "chat_examples")] == \
        [getattr(training, k) for k in ("prompt_template", "system_prompt", "chat_examples")]
