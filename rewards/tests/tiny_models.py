"""Tiny models for the reward tests, built locally in seconds (no Hub): a byte-level BPE
tokenizer trained on a few lines, with a chat template, and a 2-layer Llama as a sequence
classifier (the safety and helpfulness rewards' models). The project's tests build their tiny
causal LMs from the same tokenizer and config (tests/helpers.py imports them from here).
"""

from __future__ import annotations

from pathlib import Path

import pytest

CHAT_TEMPLATE = (
    "{% for m in messages %}<|{{ m['role'] }}|>{{ m['content'] }}\n{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>{% endif %}"
)


def tiny_tokenizer():
    """A byte-level BPE tokenizer trained on a few lines, with pad/bos/eos and a chat template."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    special = ["<pad>", "<s>", "</s>", "<|system|>", "<|user|>", "<|assistant|>"]
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    corpus = [
        "What is 12 + 7? <think> 12 + 7 = 19 </think> The answer is \\boxed{19}.",
        "<answer> 42 </answer> wait, but let me check: however this is wrong, verify the error.",
        "The quick brown fox jumps over the lazy dog. 0 1 2 3 4 5 6 7 8 9 + - * / = ( ) { }",
    ]
    tok.train_from_iterator(corpus * 10, trainers.BpeTrainer(vocab_size=400, special_tokens=special,
                                                             initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<pad>", bos_token="<s>", eos_token="</s>")
    tokenizer.chat_template = CHAT_TEMPLATE
    return tokenizer


def tiny_llama_config(tokenizer, **kwargs):
    from transformers import LlamaConfig

    return LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
        num_attention_heads=2, num_key_value_heads=2,
        pad_token_id=tokenizer.pad_token_id, bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
        **{"max_position_embeddings": 512, **kwargs},
    )


def build_tiny_classifier(path: Path, labels: list[str] | None = ("unsafe", "safe"), seed: int = 0, **config) -> Path:
    """The tiny Llama as a random sequence classifier: one output per label (``id2label``), or one
    output (a reward model's score) when ``labels`` is None; ``config``: other LlamaConfig values."""
    import torch
    from transformers import LlamaForSequenceClassification

    tokenizer = tiny_tokenizer()
    outputs = {"num_labels": 1} if labels is None else {
        "num_labels": len(labels), "id2label": dict(enumerate(labels)), "label2id": {n: i for i, n in enumerate(labels)}}
    torch.manual_seed(seed)
    LlamaForSequenceClassification(tiny_llama_config(tokenizer, **outputs, **config)).save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


# Session fixtures built from the above, shared by both conftests (rewards/tests and the project's
# tests/ import them by name: a fixture has one home).
@pytest.fixture(scope="session")
def tiny_classifier(tmp_path_factory) -> Path:
    """The tiny Llama as a random safe/unsafe classifier (``id2label`` {0: unsafe, 1: safe})."""
    return build_tiny_classifier(tmp_path_factory.mktemp("tiny-classifier"))


@pytest.fixture(scope="session")
def tiny_scorer(tmp_path_factory) -> Path:
    """The tiny Llama as a random 1-output reward model."""
    return build_tiny_classifier(tmp_path_factory.mktemp("tiny-scorer"), labels=None)

