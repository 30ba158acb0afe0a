"""Model card content and the Hub upload (the Hub is unreachable here: the API is a recorder)."""

from __future__ import annotations

import json

import yaml
from helpers import RecordingHubApi, run_recipe, tiny_recipe

from trl_r1.stages import get_stage
from trl_r1.train.hub import model_card, push_folder

GRPO = get_stage("grpo")


def test_card_content(tmp_path):
    metrics = tmp_path / "metrics.jsonl"
    metrics.write_text("\n".join(json.dumps(r) for r in [
        {"step": s, "reward": s / 10, "rewards/accuracy/mean": s / 20, "completions/mean_length": 30.0,
         "reflection/rate_per_1k_words": 2.5} for s in range(1, 11)
    ] + [json.dumps({"step": 10, "train_runtime": 5.0})]))
    recipe = yaml.safe_dump({"stage": "grpo", "model_name_or_path": "Qwen/Qwen2.5-7B", "learning_rate": 3e-6})
    card = model_card(repo_id="me/r1-zero", base_model="Qwen/Qwen2.5-7B", recipe=recipe,
                      rewards=["accuracy", "format"], metrics_path=metrics, stage=GRPO)
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


def test_a_bare_repo_name_is_uploaded_to_the_namespaced_id_the_hub_answers_with(tmp_path):
    # the recipes name `r1-zero-qwen2.5-7b`; the Hub creates `<user>/r1-zero-qwen2.5-7b`
    RecordingHubApi.calls = []
    push_folder(tmp_path, "r1-zero-qwen2.5-7b", api=RecordingHubApi())
    (_, asked, _), (_, uploaded, _) = RecordingHubApi.calls
    assert asked == "r1-zero-qwen2.5-7b" and uploaded == "user/r1-zero-qwen2.5-7b"


def test_the_upload_runs_after_every_process_has_finished_not_inside_the_barrier():
    from types import SimpleNamespace

    from trl_r1.train.checkpoints import on_main_process
    from trl_r1.train.hub import UPLOAD

    order = []
    accelerator = SimpleNamespace(is_main_process=True, wait_for_everyone=lambda: order.append("barrier"))
    summary = on_main_process(SimpleNamespace(accelerator=accelerator),
                              lambda: {"card": "c", UPLOAD: lambda: order.append("upload") or "https://hub/x"})
    assert order == ["barrier", "upload"] and summary == {"card": "c", "hub": "https://hub/x"}
    accelerator.is_main_process = False
    assert on_main_process(SimpleNamespace(accelerator=accelerator), lambda: 1 / 0) == {}


def test_the_card_names_license_datasets_results_and_a_hub_base_for_a_local_starting_point(tmp_path):
    metrics = tmp_path / "metrics.jsonl"
    metrics.write_text(json.dumps({"step": 1, "reward": 0.5}) + "\n")
    stage3 = tmp_path / "outputs" / "r1" / "stage3"
    stage3.mkdir(parents=True)
    (stage3 / "README.md").write_text("---\nbase_model: Qwen/Qwen2.5-7B\nlicense: apache-2.0\n---\n# stage 3\n")
    rows = [{"metric": "pass@1, 4 samples at T=0.6, top-p 0.95", "trained": 0.488},
            {"metric": "greedy accuracy (T=0)", "trained": 0.48}]
    card = model_card(repo_id="me/r1", base_model=str(stage3), recipe="stage: grpo\n", metrics_path=metrics, stage=GRPO,
                      license="apache-2.0", datasets=["open-r1/OpenR1-Math-220k"], evaluation_rows=rows,
                      benchmark="math_500")
    front = yaml.safe_load(card.split("---")[1])
    assert front["base_model"] == "Qwen/Qwen2.5-7B"  # not a local path, a broken link on the Hub
    assert front["license"] == "apache-2.0" and front["datasets"] == ["open-r1/OpenR1-Math-220k"]
    (index,) = front["model-index"]
    (result,) = index["results"]
    assert index["name"] == "me/r1" and result["dataset"]["name"] == "math_500"
    assert [(m["type"], m["value"]) for m in result["metrics"]] == [("pass@1", 48.8), ("greedy accuracy", 48.0)]
    assert f"the local model `{stage3}`" in card
    orphan = model_card(repo_id=None, base_model=str(tmp_path / "no-card"), recipe="", metrics_path=metrics, stage=GRPO)
    assert "base_model" not in yaml.safe_load(orphan.split("---")[1])


def test_a_stage_describes_its_own_card_and_one_that_does_not_gets_its_name_and_loss(tmp_path):
    from types import ModuleType

    from trl_r1.stages import Stage

    metrics = tmp_path / "metrics.jsonl"
    metrics.write_text(json.dumps({"step": 1, "loss": 0.5, "mean_token_accuracy": 0.25}) + "\n")
    sft = model_card(repo_id=None, base_model="Qwen/Qwen2.5-7B", recipe="", metrics_path=metrics, stage=get_stage("sft"))
    assert "with supervised fine-tuning (SFT) by trl-r1" in sft and "| mean_token_accuracy | 0.25 |" in sft
    assert "sft" in yaml.safe_load(sft.split("---")[1])["tags"]
    plugin = model_card(repo_id=None, base_model="Qwen/Qwen2.5-7B", recipe="", metrics_path=metrics,
                        stage=Stage("my_dpo", ModuleType("my_dpo")))
    assert "with my_dpo by trl-r1" in plugin and "| loss | 0.5 |" in plugin and "![training loss]" in plugin
    assert "my-dpo" in yaml.safe_load(plugin.split("---")[1])["tags"]
