"""Per-GPU memory of training and generation, in bytes, from a model's shape.

Model states follow DeepSpeed's own accounting (``estimate_zero3_model_states_mem_needs``: 18
bytes per parameter split over the GPUs, plus 4 bytes per parameter of the largest layer,
gathered whole). Activations count what the decoder layers of transformers' Llama/Qwen2 keep
for the backward pass; the output layer is TRL's fused LM head (``add_fused_lm_head``, used by
GRPOTrainer and SFTTrainer), which never holds the full ``tokens x vocabulary`` logits.
bench/plan_validation.py checks both against DeepSpeed and against measured peaks.
"""

from __future__ import annotations

from dataclasses import dataclass

from .hardware import Hardware
from .shapes import ModelShape

# TRL's fused LM head (trl.kernels.chunked_logprob): tiles of 4096 tokens x 32768 vocabulary entries.
HEAD_TOKEN_TILE, HEAD_VOCAB_TILE = 4096, 32768
# Tile-sized fp32 tensors alive at once in the head's backward: one on a GPU (a Triton kernel works
# in place); on a CPU, TRL's torch fallback (`_backward_tile`) holds about seven (measured here).
HEAD_TILES = {"gpu": 1, "cpu": 7}
# vLLM's own activations, sampler and CUDA graphs, beside weights and KV cache: our estimate.
VLLM_OVERHEAD = 2.0 * 1024**3


@dataclass(frozen=True)
class Part:
    name: str
    bytes: float
    note: str = ""


def model_states(shape: ModelShape, hw: Hardware, dtype_bytes: int = 2, trainable: bool = True) -> list[Part]:
    """Weights, gradients and optimizer states on one GPU (AdamW). Without ``trainable``, the
    weights alone (a reference or reward model, prepared the same way as the policy)."""
    p, n, largest = shape.params, hw.gpus, shape.largest_layer_params
    if hw.distributed == "DEEPSPEED" and hw.zero_stage == 3:
        if not trainable:
            return [Part("weights", 0 if hw.offload_params else 2 * p / n, "bf16 shard")]
        weights = 0 if hw.offload_params else 2 * p / n
        parts = [Part("weights", weights, "bf16 shard" if weights else "offloaded to CPU")]
        if hw.offload_optimizer:
            parts.append(Part("gradients + optimizer", 0, "offloaded to CPU"))
        else:
            parts += [Part("gradients", 4 * p / n, "fp32 shard"),
                      Part("optimizer", 12 * p / n, "fp32 master weights + Adam moments, shard")]
        return parts + [Part("gathered layer", 4 * largest, "largest module, bf16 weights + gradients, whole")]
    if hw.distributed == "DEEPSPEED":  # ZeRO-1/2: weights whole, the rest sharded (DeepSpeed counts 18 bytes)
        parts = [Part("weights", 2 * p, "bf16, whole")]
        if not trainable:
            return parts
        if hw.offload_optimizer:
            return parts + [Part("gradients + optimizer", 0, "offloaded to CPU")]
        return parts + [Part("gradients", 6 * p / n, "bf16 + fp32, shard"),
                        Part("optimizer", 12 * p / n, "fp32 master weights + Adam moments, shard")]
    weights = Part("weights", dtype_bytes * p, f"{dtype_bytes * 8}-bit, whole")
    if not trainable:
        return [weights]
    return [weights, Part("gradients", dtype_bytes * p, "whole"),
            Part("optimizer", 2 * dtype_bytes * p, "Adam moments in the weights' dtype")]


# The linear layers of a Llama/Qwen2 decoder layer, as (inputs, outputs) of the shape's widths.
LINEAR_LAYERS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


def lora_params(shape: ModelShape, rank: int, targets: str | list[str] | None) -> int:
    """Parameters of LoRA adapters of ``rank`` on the ``targets`` of every decoder layer (PEFT's
    A: rank x inputs and B: outputs x rank); ``all-linear``, or names we do not know, count all
    seven linear layers (an upper bound).

    >>> from trl_r1.plan.shapes import model_shape
    >>> lora_params(model_shape("Qwen/Qwen2.5-0.5B"), 16, ["q_proj", "v_proj"])
    1081344
    """
    h, i, q, kv = shape.hidden_size, shape.intermediate_size, shape.q_size, shape.kv_size
    sizes = {"q_proj": h + q, "k_proj": h + kv, "v_proj": h + kv, "o_proj": q + h, "gate_proj": h + i,
             "up_proj": h + i, "down_proj": i + h}
    names = [targets] if isinstance(targets, str) else list(targets or [])
    if not names or any(name not in sizes for name in names):
        names = list(LINEAR_LAYERS)
    return rank * shape.num_hidden_layers * sum(sizes[name] for name in set(names))


def lora_states(shape: ModelShape, rank: int, targets, dtype_bytes: int = 2) -> list[Part]:
    """A GPU training LoRA adapters (one process, or DDP): the frozen base model whole, and the adapters in fp32 (PEFT
    keeps them so under bf16) with their gradients and Adam moments, 16 bytes a parameter."""
    adapters = lora_params(shape, rank, targets)
    return [Part("weights", dtype_bytes * shape.params, f"{dtype_bytes * 8}-bit, whole, frozen"),
            Part("LoRA adapters", 16 * adapters, f"{adapters / 1e6:,.1f}M parameters (rank {rank}): fp32 weights, "
                                                 "gradients, Adam moments")]


def host_memory_for_offload(shape: ModelShape, hw: Hardware) -> float:
    """CPU RAM per node that ZeRO offload needs (DeepSpeed's estimate, its 1.5 buffer factor)."""
    if not (hw.offload_optimizer or hw.offload_params):
        return 0.0
    per_param = 18 if hw.offload_params else 16
    return shape.params * per_param / hw.nodes * 1.5


def _norm(shape: ModelShape, dtype_bytes: int) -> float:
    """Bytes per token an RMSNorm keeps: its input in fp32, the normalised value, its output."""
    return 4 * shape.hidden_size + 2 * dtype_bytes * shape.hidden_size


def layer_activations(shape: ModelShape, dtype_bytes: int = 2, kv_repeated: bool = True) -> float:
    """Bytes per token one decoder layer keeps for its backward pass (flash/memory-efficient
    attention: no ``sequence x sequence`` term). ``kv_repeated``: keys and values expanded to
    every query head, as transformers' sdpa does under a padding mask."""
    kv = shape.q_size if kv_repeated else shape.kv_size
    attention = 3 * shape.q_size + 2 * kv  # rotated q, k, v; attention output; o_proj input
    mlp = 4 * shape.intermediate_size  # gate, silu(gate), up, down_proj input
    return 2 * _norm(shape, dtype_bytes) + dtype_bytes * (attention + mlp)


def backward_working(shape: ModelShape, dtype_bytes: int = 2) -> float:
    """Bytes per token alive at once inside one layer's backward (gradients of the MLP's and
    the residual stream's tensors), beyond what is kept."""
    return dtype_bytes * (3 * shape.intermediate_size + 4 * shape.hidden_size)


def activations(shape: ModelShape, tokens: int, checkpointing: bool, dtype_bytes: int = 2,
                kv_repeated: bool = True) -> Part:
    """What the forward keeps for the backward, and the working memory of one layer's backward,
    for ``tokens`` tokens in one micro-batch. With gradient checkpointing each layer keeps only
    its input, and one layer at a time is recomputed in full; its tensors are freed as its
    backward consumes them, which covers the backward's working memory (measured here)."""
    layer = layer_activations(shape, dtype_bytes, kv_repeated)
    per_token = _norm(shape, dtype_bytes)  # the final norm
    if checkpointing:
        per_token += shape.num_hidden_layers * dtype_bytes * shape.hidden_size + layer
        note = "checkpointed: each layer's input, one layer recomputed"
    else:
        per_token += shape.num_hidden_layers * layer + backward_working(shape, dtype_bytes)
        note = "every layer's saved tensors (no checkpointing)"
    return Part("activations", per_token * tokens, f"{tokens:,} tokens; {note}")


def loss_head(shape: ModelShape, tokens: int, scored_tokens: int, dtype_bytes: int = 2, device: str = "gpu") -> Part:
    """TRL's fused LM head for one micro-batch: the hidden states it keeps for the scored tokens,
    one logits tile, per-token statistics, and in the backward the fp32 gradients of the hidden
    states and of the output layer's weight."""
    h, vocab = shape.hidden_size, shape.vocab_size
    tile = HEAD_TILES[device] * min(scored_tokens, HEAD_TOKEN_TILE) * min(vocab, HEAD_VOCAB_TILE) * max(dtype_bytes, 4)
    kept = scored_tokens * (dtype_bytes * h + 10 * 4)
    backward = scored_tokens * 4 * h + vocab * h * 4
    return Part("loss head (logits, log-probs)", kept + tile + backward,
                f"{scored_tokens:,} scored tokens; fused head: no {tokens:,} x {vocab:,} logits")


def forward_only(shape: ModelShape, tokens: int, dtype_bytes: int = 2) -> float:
    """Peak extra bytes of a no-grad forward (reference model, old log-probs): one layer's
    working tensors and one logits tile."""
    tile = min(tokens, HEAD_TOKEN_TILE) * min(shape.vocab_size, HEAD_VOCAB_TILE) * max(dtype_bytes, 4)
    return tokens * backward_working(shape, dtype_bytes) + tile


def forward_flops(shape: ModelShape, tokens: int, context: int) -> float:
    """FLOPs of one forward over ``tokens`` tokens attending to ``context`` tokens on average:
    2 per weight (the embedding lookup is free) and 4 per attention score."""
    weights = shape.params - shape.embedding_params * (0 if shape.tie_word_embeddings else 1)
    return tokens * (2 * weights + 4 * shape.num_hidden_layers * shape.q_size * context)


def kv_cache_tokens(shape: ModelShape, budget: float, tensor_parallel: int = 1) -> int:
    """KV-cache tokens that fit in ``budget`` bytes on one GPU (vLLM shards heads over TP)."""
    return max(0, int(budget * tensor_parallel / shape.kv_bytes_per_token))
