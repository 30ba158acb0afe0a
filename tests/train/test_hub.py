"""Model card content and the Hub upload (the Hub is unreachable here: the API is a recorder)."""

from __future__ import annotations

import json

import yaml
from helpers import RecordingHubApi, run_recipe, tiny_recipe

from trl_r1.train.hub import model_card, push_folder


def test_card_content(tmp_path):
    metrics = tmp_path / "metrics.jsonl"
    metrics.write_text("\n".join(json.dumps(r) for r in [
        {"step": s, "reward": s / 10, "rewards/accuracy/mean": s / 20, "completions/mean_length": 30.0,
         "reflection/rate_per_1k_words": 2.5} for s in range(1, 11)
    ] + [json.dumps({"step": 10, "train_runtime": 5.0})]))
    recipe = yaml.safe_dump({"stage": "grpo", "model_name_or_path": "Qwen/Qwen2.5-7B", "learning_rate": 3e-6})
    card = model_card(repo_id="me/r1-zero", base_model="Qwen/Qwen2.5-7B", recipe=recipe,
                      rewards=["accuracy", "format"], metrics_path=metrics)
    front = yaml.safe_load(card.split("---")[1])
    assert front["base_model"] == "Qwen/Qwen2.5-7B" and "grpo" in front["tags"]
    assert "# me/r1-zero" in card
    assert "- `accuracy`\n- `format`" in card
    assert "| reward | 1 |" in card and "| rewards/accuracy/mean | 0.5 |" in card
    assert "first 5 logged steps: 0.300; over the last 5: 0.800" in card
    assert "(training.png)" in card
    assert "learning_rate: 3.0e-06" in card


def test_push_uploads_the_model_folder_with_card(tiny_model, tmp_path, hub_api):
    out = tmp_path / "out"
    values = tiny_recipe(tiny_model, out, max_steps=1, push_to_hub=True, hub_model_id="me/tiny-r1", save_steps=1)
    summary = run_recipe(values)

    assert [c[0] for c in hub_api.calls] == ["create_repo", "upload_folder"]
    _, repo, upload = hub_api.calls[1]
    assert hub_api.calls[0][1] == repo == "me/tiny-r1"
    assert {"README.md", "model.safetensors", "config.json", "training.png", "recipe.yaml", "metrics.jsonl"} <= set(upload["files"])
    assert "checkpoint-*" in upload["ignore_patterns"]
    assert summary["hub"].startswith("https://huggingface.co/me/tiny-r1")
    assert "# me/tiny-r1" in (out / "README.md").read_text()


def test_push_folder_defaults(tmp_path):
    RecordingHubApi.calls = []
    push_folder(tmp_path, "org/model", api=RecordingHubApi())
    assert RecordingHubApi.calls[0] == ("create_repo", "org/model", {"private": None, "exist_ok": True, "repo_type": "model"})
