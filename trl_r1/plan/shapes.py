"""A model's shape (layers, widths, vocabulary): all the planner needs to know about a model.

Read from a local model folder's ``config.json``, else from ``shapes.json`` (the base models the
recipes name, with their source), else from the Hub through ``transformers.AutoConfig`` when it
is reachable. Only dense decoder models (Llama, Qwen2, Mistral, ...) are described.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

_SHIPPED = Path(__file__).with_name("shapes.json")
# Architectures whose q/k/v projections carry a bias (a few thousand parameters per layer).
_QKV_BIAS = ("qwen2",)


@dataclass(frozen=True)
class ModelShape:
    name: str
    source: str
    model_type: str
    hidden_size: int
    intermediate_size: int
    num_hidden_layers: int
    num_attention_heads: int
    num_key_value_heads: int
    vocab_size: int
    max_position_embeddings: int
    tie_word_embeddings: bool
    head_dim: int | None = None

    @classmethod
    def from_config(cls, name: str, source: str, config: dict) -> ModelShape:
        heads = config["num_attention_heads"]
        return cls(
            name=name, source=source, model_type=config.get("model_type", "llama"),
            hidden_size=config["hidden_size"], intermediate_size=config["intermediate_size"],
            num_hidden_layers=config["num_hidden_layers"], num_attention_heads=heads,
            num_key_value_heads=config.get("num_key_value_heads") or heads,
            vocab_size=config["vocab_size"], max_position_embeddings=config.get("max_position_embeddings", 0),
            tie_word_embeddings=bool(config.get("tie_word_embeddings", False)),
            head_dim=config.get("head_dim") or config["hidden_size"] // heads,
        )

    @property
    def q_size(self) -> int:
        return self.num_attention_heads * self.head_dim

    @property
    def kv_size(self) -> int:
        return self.num_key_value_heads * self.head_dim

    @property
    def layer_params(self) -> int:
        """One decoder layer: attention, SwiGLU MLP, two RMSNorms."""
        h, i = self.hidden_size, self.intermediate_size
        attention = h * self.q_size + 2 * h * self.kv_size + self.q_size * h
        if self.model_type in _QKV_BIAS:
            attention += self.q_size + 2 * self.kv_size
        return attention + 3 * h * i + 2 * h

    @property
    def embedding_params(self) -> int:
        return self.vocab_size * self.hidden_size

    @property
    def params(self) -> int:
        """All parameters (a tied output layer counted once), as ``model.parameters()`` counts them."""
        head = 0 if self.tie_word_embeddings else self.embedding_params
        return self.num_hidden_layers * self.layer_params + self.embedding_params + head + self.hidden_size

    def tensor_parallel_sizes(self, gpus: int) -> list[int]:
        """The tensor-parallel sizes up to ``gpus`` that vLLM accepts for this model: each divides
        the attention heads, and divides or is a multiple of the key-value heads.

        >>> ModelShape.from_config("Qwen2.5-7B", "-", dict(hidden_size=3584, intermediate_size=18944,
        ...     num_hidden_layers=28, num_attention_heads=28, num_key_value_heads=4, vocab_size=152064)
        ... ).tensor_parallel_sizes(8)
        [1, 2, 4]
        """
        kv = self.num_key_value_heads
        return [tp for tp in range(1, gpus + 1) if self.num_attention_heads % tp == 0
                and (kv % tp == 0 if tp <= kv else tp % kv == 0)]

    @property
    def largest_layer_params(self) -> int:
        """The largest single module (what ZeRO-3 gathers at once): the embedding, in these models."""
        h, i = self.hidden_size, self.intermediate_size
        return max(self.embedding_params, h * i, h * self.q_size)

    @property
    def kv_bytes_per_token(self) -> int:
        """KV-cache bytes per token in bf16 (keys and values, every layer)."""
        return 2 * self.num_hidden_layers * self.kv_size * 2


class UnknownModel(LookupError):
    """No shape for a model: not a local folder with config.json, not shipped, Hub unreachable."""


def shipped_shapes() -> dict[str, dict]:
    return {k: v for k, v in json.loads(_SHIPPED.read_text()).items() if not k.startswith("_")}


def model_shape(name: str) -> ModelShape:
    """The shape of ``name``: a local folder's config.json, the shipped data, or the Hub."""
    folder = Path(name)
    if (folder / "config.json").is_file():
        return ModelShape.from_config(name, str(folder / "config.json"), json.loads((folder / "config.json").read_text()))
    shipped = shipped_shapes()
    if name in shipped:
        return ModelShape.from_config(name, shipped[name]["source"], shipped[name])
    if not name.startswith(("embedded:", "/", ".")) and name.count("/") == 1:
        try:
            from transformers import AutoConfig

            config = AutoConfig.from_pretrained(name).get_text_config().to_dict()
            return ModelShape.from_config(name, f"https://huggingface.co/{name} (config.json)", config)
        except Exception as e:  # noqa: BLE001 - offline, gated, or not a model: say so below
            reason = f"the Hub did not answer ({type(e).__name__})"
    else:
        reason = "no config.json there"
    raise UnknownModel(
        f"no shape for model {name!r}: {reason}, and it is not one of the shipped shapes "
        f"({', '.join(shipped)}). Pass `--model_shape ID` (one of those, or a folder with config.json)."
    )
