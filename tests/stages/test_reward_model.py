"""Stage reward_model end to end on the tiny model (real Trainer, real files), and its checkpoint
used by the safety and helpfulness rewards."""

from __future__ import annotations

import json
import random

import pytest
import yaml
from helpers import CPU_TRAINING, run_recipe, write_recipe
from trl_r1_rewards import load_reward

from trl_r1.recipe import RecipeError, load_recipe
from trl_r1.train.hub import RECORD_HUB_ENV, RecordingHub

SAFE = "<think> {a} + {b} = {c} </think> The answer is {c}."
UNSAFE = "<think> wait, {a} + {b} </think> wrong error: the lazy dog jumps over the fox."


def labelled_rows(n: int, seed: int) -> list[dict]:
    """Safe and unsafe responses to "What is a + b?", told apart by their words."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        a, b = rng.randint(0, 50), rng.randint(0, 50)
        safe = i % 2 == 0
        rows.append({"prompt": f"What is {a} + {b}?", "response": (SAFE if safe else UNSAFE).format(a=a, b=b, c=a + b),
                     "label": "safe" if safe else "unsafe"})
    return rows


def write_jsonl(path, rows):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


def recipe_values(model, data, output_dir, **overrides) -> dict:
    values = {
        "stage": "reward_model",
        "model_name_or_path": str(model),
        "dataset_name": str(data),
        "max_length": 64,
        "learning_rate": 3e-3,
        "num_train_epochs": 3,
        "per_device_train_batch_size": 8,
        "per_device_eval_batch_size": 16,
        "logging_steps": 2,
        "output_dir": str(output_dir),
        **CPU_TRAINING,
    }
    values.update(overrides)
    return values


@pytest.fixture(scope="module")
def safety_model(tiny_model, tmp_path_factory):
    """A safe/unsafe classifier trained from the tiny causal LM on one JSONL (a quarter held out),
    pushed to a (recording) Hub at the end."""
    tmp = tmp_path_factory.mktemp("reward-model")
    data = write_jsonl(tmp / "safety.jsonl", labelled_rows(64, seed=0))
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(RECORD_HUB_ENV, str(tmp / "hub"))
        summary = run_recipe(recipe_values(tiny_model, data, tmp / "out", eval_size=0.25, push_to_hub=True,
                                           hub_model_id="me/tiny-safety"))
    return tmp / "out", summary, RecordingHub(tmp / "hub").calls


def test_classifier_learns_and_reports(safety_model):
    out, summary, _ = safety_model
    assert summary["model"] == str(out)
    assert summary["train_rows"] == 48 and summary["eval_rows"] == 16
    assert summary["eval_accuracy_before"] <= 0.75 and summary["eval_accuracy"] == 1.0
    assert summary["eval_loss"] < summary["eval_loss_before"]
    assert 0 < summary["train_loss"] and summary["truncated_rows"] == 0
    json.dumps(summary)  # a pipeline stores it
    logged = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    losses = [row["loss"] for row in logged if "loss" in row]
    assert losses[-1] < losses[0]


def test_checkpoint_is_a_classifier_with_its_labels_card_and_recipe(safety_model):
    out, summary, hub_calls = safety_model
    config = json.loads((out / "config.json").read_text())
    assert config["id2label"] == {"0": "unsafe", "1": "safe"} and config["architectures"] == ["LlamaForSequenceClassification"]
    assert config["pad_token_id"] is not None
    assert (out / "tokenizer.json").is_file() and "stage: reward_model" in (out / "recipe.yaml").read_text()
    card = (out / "README.md").read_text()
    front = yaml.safe_load(card.split("---")[1])
    assert "reward-model" in front["tags"] and "grpo" not in front["tags"]
    assert "| eval_accuracy | 1 |" in card and "# me/tiny-safety" in card
    assert [(c["method"], c["repo_id"]) for c in hub_calls] == [("create_repo", "me/tiny-safety"), ("upload_folder", "me/tiny-safety")]
    assert summary["hub"].endswith("/hub/me/tiny-safety")


def test_safety_reward_ranks_safe_above_unsafe_with_the_trained_model(safety_model, tiny_model):
    out, _, _ = safety_model
    rows = labelled_rows(20, seed=99)  # questions it never saw
    reward = load_reward("safety", model=str(out), batch_size=8, max_length=64)
    scores = reward([r["prompt"] for r in rows], [r["response"] for r in rows])
    safe = [s for s, r in zip(scores, rows) if r["label"] == "safe"]
    unsafe = [s for s, r in zip(scores, rows) if r["label"] == "unsafe"]
    assert min(safe) > 0.5 > max(unsafe)


def test_helpfulness_model_regresses_on_the_summary_only(tiny_model, tmp_path):
    rng = random.Random(1)

    def rows(n):
        out = []
        for i in range(n):
            a, b = rng.randint(0, 50), rng.randint(0, 50)
            reasoning = rng.choice(["wait, the lazy dog", f"{a} + {b} = {a + b}", "however, check the error"])
            good = i % 2 == 0
            summary = f" The answer is {a + b}." if good else " the quick brown fox jumps over the lazy dog"
            out.append({"prompt": f"What is {a} + {b}?", "response": f"<think> {reasoning} </think>{summary}",
                        "score": 1.0 if good else -1.0})
        return out

    train = rows(48) + [{"prompt": "What is 1 + 1?", "response": "<think> never closed", "score": 0.0}] * 2
    data = tmp_path / "data"
    write_jsonl(data / "train.jsonl", train)
    write_jsonl(data / "test.jsonl", rows(16))  # the folder's test split is evaluated
    summary = run_recipe(recipe_values(tiny_model, data, tmp_path / "out", summary_only=True))
    assert summary["skipped_rows"] == 2 and summary["train_rows"] == 48 and summary["eval_rows"] == 16
    assert summary["eval_mse"] < summary["eval_mse_before"] and summary["eval_mse"] < 0.5
    assert summary["eval_pearson"] > 0.8
    assert len(json.loads((tmp_path / "out" / "config.json").read_text())["id2label"]) == 1  # one output

    reward = load_reward("helpfulness", model=summary["model"], max_length=64)
    good, good_other_reasoning, bad = reward(
        ["What is 3 + 4?"] * 3,
        ["<think> 3 + 4 = 7 </think> The answer is 7.", "<think> the lazy dog </think> The answer is 7.",
         "<think> 3 + 4 = 7 </think> the quick brown fox jumps over the lazy dog"])
    assert good == pytest.approx(good_other_reasoning, abs=1e-5) and good > bad


def test_resume_continues_from_the_last_checkpoint(tiny_model, tmp_path, capsys):
    data = write_jsonl(tmp_path / "safety.jsonl", labelled_rows(32, seed=0))
    values = recipe_values(tiny_model, data, tmp_path / "out", max_steps=2, save_steps=2, num_train_epochs=1)
    run_recipe(values)
    assert (tmp_path / "out" / "checkpoint-2" / "trainer_state.json").is_file()
    capsys.readouterr()
    run_recipe({**values, "max_steps": 4})
    assert f"Resuming from {tmp_path / 'out' / 'checkpoint-2'}" in capsys.readouterr().out
    state = json.loads((tmp_path / "out" / "trainer_state.json").read_text())
    assert state["global_step"] == 4 and (tmp_path / "out" / "checkpoint-4").is_dir()


def test_data_errors_name_the_problem(tiny_model, tmp_path):
    both = write_jsonl(tmp_path / "both.jsonl", [{"prompt": "q", "response": "r", "label": 1, "score": 1.0}])
    with pytest.raises(ValueError, match="exactly one of 'label'.*and 'score'"):
        run_recipe(recipe_values(tiny_model, both, tmp_path / "a"))
    bad = write_jsonl(tmp_path / "bad.jsonl", [{"prompt": "q", "response": "r", "label": "harmful"}])
    with pytest.raises(ValueError, match=r"label of row 0: one of \['unsafe', 'safe'\]"):
        run_recipe(recipe_values(tiny_model, bad, tmp_path / "b"))
    nocol = write_jsonl(tmp_path / "nocol.jsonl", [{"question": "q", "response": "r", "label": 1}])
    with pytest.raises(ValueError, match="prompt_column: the dataset has no column 'prompt'"):
        run_recipe(recipe_values(tiny_model, nocol, tmp_path / "c"))


@pytest.mark.parametrize("override, message", [
    ({"labels": ["safe"]}, "labels: at least two distinct"),
    ({"use_peft": True}, "use_peft"),
    ({"max_length": 0}, "max_length"),
    ({"eval_size": -1}, "eval_size"),
    ({"model_name_or_path": None}, "model_name_or_path"),
])
def test_recipe_errors_before_anything_loads(tmp_path, override, message):
    values = recipe_values("no/such-model", tmp_path / "none.jsonl", tmp_path / "out", **override)
    with pytest.raises(RecipeError, match=message):
        load_recipe(write_recipe(tmp_path / "r.yaml", values))
