"""Model shapes: the shipped numbers build the same models transformers builds, offline."""

from __future__ import annotations

import json

import pytest
import torch
import transformers

from trl_r1.plan.shapes import ModelShape, UnknownModel, model_shape, shipped_shapes


@pytest.mark.parametrize("name", sorted(shipped_shapes()))
def test_a_shipped_shape_counts_the_parameters_of_the_model_transformers_builds_from_it(name):
    config = {k: v for k, v in shipped_shapes()[name].items() if k != "source"}
    with torch.device("meta"):
        model = transformers.AutoModelForCausalLM.from_config(transformers.AutoConfig.for_model(**config))
    shape = model_shape(name)
    assert shape.params == sum(p.numel() for p in model.parameters())
    assert shape.largest_layer_params == max(sum(p.numel() for p in m.parameters(recurse=False)) for m in model.modules())
    assert shape.source.startswith("https://huggingface.co/")


def test_every_base_model_the_gpu_recipes_train_has_a_shipped_shape():
    assert {"Qwen/Qwen2.5-Math-1.5B", "Qwen/Qwen2.5-Math-7B", "Qwen/Qwen2.5-7B", "Qwen/Qwen2.5-14B", "Qwen/Qwen2.5-32B",
            "meta-llama/Llama-3.1-8B", "meta-llama/Llama-3.3-70B-Instruct", "Qwen/Qwen2.5-1.5B-Instruct",
            "embedded:SmolLM2-135M-Instruct"} <= set(shipped_shapes())


def test_a_local_model_folder_is_read_from_its_own_config_json(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps(dict(
        model_type="llama", hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
        num_key_value_heads=2, vocab_size=100, max_position_embeddings=256)))
    shape = model_shape(str(tmp_path))
    assert (shape.hidden_size, shape.num_hidden_layers, shape.kv_size) == (64, 2, 32)
    assert shape.source == str(tmp_path / "config.json")


def test_an_unknown_model_offline_is_an_error_naming_the_shipped_shapes_and_the_option(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(UnknownModel, match=r"--model_shape.*|Qwen/Qwen2.5-7B") as e:
        model_shape("someone/unknown-model")
    assert "--model_shape" in str(e.value) and "Qwen/Qwen2.5-7B" in str(e.value)


def test_kv_cache_bytes_count_keys_and_values_of_every_layer_in_bf16():
    shape = ModelShape.from_config("x", "test", dict(hidden_size=3584, intermediate_size=1, num_hidden_layers=28,
                                                     num_attention_heads=28, num_key_value_heads=4, vocab_size=1))
    assert shape.kv_bytes_per_token == 2 * 28 * 4 * 128 * 2  # 57,344: Qwen2.5-7B
