"""Small stand-ins for a recipe's model, of the same family where we know it.

A rehearsal cannot load a 7B model, but what breaks a run is often the family's own text
conventions: its chat template and the token that ends a turn (Qwen2.5 base models end text
with ``<|endoftext|>`` while their chat template ends a turn with ``<|im_end|>``; Llama 3 ends a
turn with ``<|eot_id|>``). So a Qwen or Llama recipe gets a tiny random model of that
architecture, built here in seconds, whose tokenizer has the family's special tokens, end of
text and chat template; any other model gets the embedded SmolLM2-135M-Instruct.
"""

from __future__ import annotations

from pathlib import Path

EMBEDDED = "embedded:SmolLM2-135M-Instruct"

QWEN_TEMPLATE = (
    "{%- for message in messages %}{%- if loop.first and message['role'] != 'system' %}"
    "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n{% endif %}"
    "<|im_start|>{{ message['role'] }}\n{{ message['content'] }}<|im_end|>\n{% endfor %}"
    "{%- if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
LLAMA3_TEMPLATE = (
    "{{- bos_token }}{%- for message in messages %}<|start_header_id|>{{ message['role'] }}<|end_header_id|>\n\n"
    "{{ message['content'] | trim }}<|eot_id|>{%- endfor %}"
    "{%- if add_generation_prompt %}<|start_header_id|>assistant<|end_header_id|>\n\n{% endif %}"
)
# family: (architecture, special tokens, bos, end of text (a base model's eos), pad, chat template)
FAMILIES = {
    "qwen2": ("Qwen2ForCausalLM", ["<|endoftext|>", "<|im_start|>", "<|im_end|>"], None, "<|endoftext|>",
              "<|endoftext|>", QWEN_TEMPLATE),
    "llama3": ("LlamaForCausalLM", ["<|begin_of_text|>", "<|end_of_text|>", "<|start_header_id|>",
                                    "<|end_header_id|>", "<|eot_id|>"], "<|begin_of_text|>", "<|end_of_text|>",
               "<|end_of_text|>", LLAMA3_TEMPLATE),
}


def family(model: str) -> str | None:
    """The family a model id belongs to, when we build stand-ins for it.

    >>> family("Qwen/Qwen2.5-Math-7B"), family("meta-llama/Llama-3.3-70B-Instruct"), family("org/other")
    ('qwen2', 'llama3', None)
    """
    name = model.lower()
    if "qwen" in name:
        return "qwen2"
    if "llama-3" in name or "llama3" in name:
        return "llama3"
    return None


def _corpus() -> list[str]:
    from ..data.builtin import BUILTIN_DATASETS

    rows = BUILTIN_DATASETS["cold_start"]()["train"]
    return [m["content"] for row in rows for m in row["messages"]]


def build(kind: str, folder: Path) -> str:
    """A tiny random model of family ``kind`` (2 layers, head size 64, tied embeddings) with a
    byte-level BPE tokenizer that has the family's special tokens and chat template."""
    if (folder / "config.json").is_file():
        return str(folder)
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import AutoConfig, AutoModelForCausalLM, PreTrainedTokenizerFast

    architecture, special, bos, eos, pad, template = FAMILIES[kind]
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.train_from_iterator(_corpus(), trainers.BpeTrainer(
        vocab_size=1024, special_tokens=special, initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token=bos, eos_token=eos, pad_token=pad)
    tokenizer.chat_template = template
    model_type = "qwen2" if kind == "qwen2" else "llama"
    config = AutoConfig.for_model(
        model_type, vocab_size=len(tokenizer), hidden_size=128, intermediate_size=256, num_hidden_layers=2,
        num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=4096, tie_word_embeddings=True,
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id,
        architectures=[architecture])
    torch.manual_seed(0)
    AutoModelForCausalLM.from_config(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return str(folder)


def stand_in(model: str, folder: Path) -> str:
    """The rehearsal's model for a recipe's ``model``: a tiny model of its family, else the embedded one."""
    kind = family(model)
    return build(kind, folder / kind) if kind else EMBEDDED
