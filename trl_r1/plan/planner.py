"""Whether a recipe fits its GPUs: per-GPU peak memory by part, per-step work and time, a verdict.

One ``StagePlan`` per stage (a pipeline gives one per link). A stage module says how it is
sized (``PLAN_AS``): training stages count the model states and the loss pass of one
micro-batch at the recipe's longest sequence, and a policy trained on its own rollouts also the
reference model (``beta > 0``), reward models and colocated vLLM; generation stages count the
engine's weights and KV cache. Numbers are estimates at the longest lengths a recipe allows.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from . import memory
from .hardware import GiB, Hardware
from .memory import Part
from .shapes import ModelShape, UnknownModel, model_shape

# Per GPU, outside any estimate: CUDA context, NCCL buffers, allocator fragmentation (our margin).
RESERVED = 3.0 * GiB
# Prompt tokens assumed when a recipe bounds only the completion (GRPOConfig has no prompt limit).
DEFAULT_PROMPT_TOKENS = 512
# Above this share of the usable memory a plan that fits is called tight.
TIGHT = 0.9
# vLLM's default gpu_memory_utilization (the evaluate/sample backend builds LLM() with it).
VLLM_DEFAULT_UTILIZATION = 0.9

# What a stage module's ``PLAN_AS`` may say: how its work is sized.
ROLLOUTS = "rollouts"  # a policy trained on completions it generates (GRPO): loss over the completions
LANGUAGE_MODEL = "language_model"  # a language model trained on whole sequences (SFT)
SCORE_HEAD = "score_head"  # a model with a score head trained on sequences (a reward model)
GENERATION = "generation"  # one process generating with an engine (sampling, evaluation)
TRAINING = (ROLLOUTS, LANGUAGE_MODEL, SCORE_HEAD)


@dataclass
class Options:
    """What ``plan`` may be told beyond the recipe."""

    model_shape: str | None = None  # plan as this model (an id with a known shape, or a folder)
    prompt_tokens: int | None = None
    mfu: float = 0.4  # share of the GPUs' bf16 peak reached by training (our assumption)


@dataclass
class StagePlan:
    name: str
    kind: str
    model: ModelShape
    hardware: Hardware
    parts: list[Part]  # at the peak, per GPU
    budget: float  # bytes the parts may use per GPU
    per_step: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    fix: str | None = None
    host_need: float = 0.0  # CPU RAM per node the offloaded states take (0: no offload)

    @property
    def peak(self) -> float:
        return sum(p.bytes for p in self.parts)

    @property
    def host_fits(self) -> bool | None:
        """Whether the offloaded states fit the nodes' RAM (None: no offload, or RAM not given)."""
        host = self.hardware.host_memory_gib
        if not self.host_need or host is None:
            return None
        return self.host_need <= host * GiB

    @property
    def fits(self) -> bool:
        return self.peak <= self.budget and self.host_fits is not False

    @property
    def tight(self) -> bool:
        """Over ``TIGHT`` of what is left beside vLLM (whose share is reserved by design)."""
        vllm = sum(p.bytes for p in self.parts if p.name.startswith("vLLM"))
        return self.peak - vllm > TIGHT * (self.budget - vllm)

    def verdict(self) -> str:
        word = "DOES NOT FIT" if not self.fits else "fits, tightly" if self.tight else "fits"
        text = (f"{word}: peak {self.peak / GiB:.1f} GiB of {self.budget / GiB:.1f} GiB usable per GPU "
                f"({self.hardware.gpu.name})")
        if self.host_need:
            host = self.hardware.host_memory_gib
            text += (f"; host RAM {self.host_need / GiB:,.0f} GiB per node for the offloaded states, "
                     + (f"of {host:,.0f} GiB" if host is not None else "unchecked (hardware: host_memory not given)"))
        return text

    def to_text(self) -> str:
        lines = [f"== {self.name} ({self.kind}) on {self.hardware.describe()}",
                 f"   model: {self.model.name}, {self.model.params / 1e9:.2f}B parameters ({self.model.source})",
                 "   per GPU at the peak:"]
        lines += [f"     {p.name:32s} {p.bytes / GiB:8.2f} GiB  {p.note}" for p in self.parts]
        lines += [f"     {'total':32s} {self.peak / GiB:8.2f} GiB  of {self.budget / GiB:.1f} usable "
                  f"({self.hardware.gpu.memory_gib:g} GiB less {RESERVED / GiB:g} GiB reserved)"]
        if self.per_step:
            lines.append("   per step: " + ", ".join(f"{k} {v}" for k, v in self.per_step.items()))
        lines += [f"   note: {n}" for n in self.notes]
        lines.append(f"   verdict: {self.verdict()}")
        if self.fix:
            lines.append(f"   fix: {self.fix}")
        return "\n".join(lines)


def _get(recipe, name: str, default=None):
    for config in recipe.configs:
        if hasattr(config, name):
            return getattr(config, name)
    return default


def _dtype_bytes(recipe) -> int:
    dtype = str(_get(recipe, "dtype", "") or "")
    return 2 if ("16" in dtype or _get(recipe, "bf16", False) or _get(recipe, "fp16", False)) else 4


def _seconds(s: float) -> str:
    return f"{s:,.0f} s" if s < 600 else f"{s / 60:,.1f} min"


def resolve_model(name: str, lineage: dict[str, str], override: str | None = None) -> ModelShape:
    """The shape of ``name``, following recipes' outputs back to the base model they started
    from (``outputs/r1/cold_start`` -> the model recipes/r1/stage1_cold_start.yaml trains)."""
    if override:
        return model_shape(override)
    seen = []
    while name in lineage and not (Path(name) / "config.json").is_file() and name not in seen:
        seen.append(name)
        name = lineage[name]
    try:
        return model_shape(name)
    except UnknownModel as e:
        via = f" (reached from {' -> '.join(seen)})" if seen else ""
        raise UnknownModel(f"{e.args[0]}{via}") from None


def recipe_lineage(root: Path) -> dict[str, str]:
    """``output_dir`` -> ``model_name_or_path`` of every recipe under ``root`` (which recipe
    writes the model another one starts from)."""
    from ..recipe import RecipeError, read_yaml

    found = {}
    for path in sorted(root.rglob("*.yaml")):
        try:
            values = read_yaml(path)
        except RecipeError:
            continue
        if values.get("output_dir") and values.get("model_name_or_path"):
            found.setdefault(str(values["output_dir"]).rstrip("/"), str(values["model_name_or_path"]))
    return found


def _batch_fix(plan_for, batch: int, accumulation: int, unit: str, derived: bool = False) -> str | None:
    """The largest per-device batch below ``batch`` that fits (a divisor of batch x accumulation),
    with the accumulation that keeps the step's size (``derived``: the recipe states its step's
    size, and the accumulation follows); None when not even 1 fits."""
    total = batch * accumulation
    for b in sorted((d for d in range(1, batch) if total % d == 0), reverse=True):
        plan = plan_for(b, total // b)
        if plan.fits:
            accumulation = (f"(gradient accumulation {total // b}, derived)" if derived
                            else f"and gradient_accumulation_steps: {total // b}")
            return (f"per_device_train_batch_size: {b} {accumulation} "
                    f"(same {unit} per step; peak {plan.peak / GiB:.1f} GiB)")
    return None


def plan_training(recipe, name: str, hw: Hardware, shape: ModelShape, lineage: dict[str, str],
                  options: Options) -> StagePlan:
    """A training stage (``PLAN_AS`` one of ``TRAINING``): one optimizer step's micro-batch at the
    longest sequence."""
    how = recipe.stage.plan_as
    batch = _get(recipe, "per_device_train_batch_size")
    accumulation = _get(recipe, "gradient_accumulation_steps")

    def plan_for(b: int, accum: int) -> StagePlan:
        return _plan_training(recipe, name, hw, shape, lineage, options, b, accum)

    plan = plan_for(batch, accumulation)
    if plan.peak > plan.budget:  # (the host RAM of offload has its own fix)
        unit = "completions" if how == ROLLOUTS else "sequences"
        derived = _get(recipe, "questions_per_step") is not None or _get(recipe, "sequences_per_step") is not None
        plan.fix = _batch_fix(plan_for, batch, accumulation, unit, derived) or _no_batch_fix(plan, hw)
    return plan


def _no_batch_fix(plan: StagePlan, hw: Hardware) -> str:
    hints = []
    if any(p.name.startswith("vLLM") for p in plan.parts):  # colocated with the rollouts' training
        hints.append("vllm_enable_sleep_mode: true (frees vLLM's memory during the loss pass)")
    if not (hw.offload_optimizer and hw.offload_params):
        hints.append("a DeepSpeed config with optimizer and parameter offload (recipes/accelerate/zero3_offload.yaml)")
    hints.append("a shorter max length with more gradient accumulation, or more GPUs")
    return "even one sequence per device does not fit: try " + "; or ".join(hints)


def _plan_training(recipe, name, hw, shape, lineage, options, batch, accumulation) -> StagePlan:
    how = recipe.stage.plan_as
    d = _dtype_bytes(recipe)
    checkpointing = bool(_get(recipe, "gradient_checkpointing", False))
    notes, per_step = [], {}
    lora = bool(_get(recipe, "use_peft", False))
    if lora and hw.distributed in ("NO", "MULTI_GPU"):
        parts = memory.lora_states(shape, _get(recipe, "lora_r"), _get(recipe, "lora_target_modules"), d)
    else:  # adapters under DeepSpeed: the full model's states, an upper bound
        parts = memory.model_states(shape, hw, d)
    budget = hw.memory - RESERVED
    if how == ROLLOUTS:
        completion = _get(recipe, "max_completion_length")
        vllm_len = _get(recipe, "vllm_max_model_length")
        prompt = options.prompt_tokens or (vllm_len - completion if vllm_len and vllm_len > completion
                                           else DEFAULT_PROMPT_TOKENS)
        seq, scored = prompt + completion, completion
        generations = _get(recipe, "num_generations")
        completions = batch * hw.gpus * accumulation
        per_step.update(questions=f"{completions // generations:,}", completions=f"{completions:,}",
                        layout=f"{batch} x {accumulation} accumulation x {hw.gpus} processes")
    else:
        seq = _get(recipe, "max_length")
        scored = seq if how == LANGUAGE_MODEL else 0
        per_step["sequences"] = f"{batch * hw.gpus * accumulation:,}"
        per_step["layout"] = f"{batch} x {accumulation} accumulation x {hw.gpus} processes"
    tokens = batch * seq
    if how == ROLLOUTS and _get(recipe, "beta", 0.0) > 0 and not lora:  # LoRA: the base, adapters disabled
        ref = memory.model_states(shape, hw, d, trainable=False)[0]
        parts.append(Part("reference model", ref.bytes, f"beta > 0: {ref.note}"))
    generation_phase, rollouts = [], None
    if how == ROLLOUTS:
        generation_phase, vllm_part, rollouts = _grpo_generation(recipe, hw, shape, batch, seq, d, notes)
        if vllm_part is not None and not _get(recipe, "vllm_enable_sleep_mode", False):
            parts.append(vllm_part)
        for reward, model in _reward_models(recipe):
            try:
                rm = resolve_model(model, lineage)
            except UnknownModel as e:
                notes.append(f"reward `{reward}`: model not counted ({e})")
                continue
            parts.append(Part(f"reward model ({reward})", 2 * rm.params, f"{rm.name}, bf16, whole on each GPU"))
    parts.append(memory.activations(shape, tokens, checkpointing, d))
    if how == SCORE_HEAD:
        parts.append(Part("score head", tokens * 4 * shape.hidden_size, "a few outputs per sequence"))
    else:
        parts.append(memory.loss_head(shape, tokens, batch * scored, d))
    plan = StagePlan(name, recipe.stage.name, shape, hw, parts, budget, per_step, notes)
    if generation_phase:
        states = [p for p in parts if not p.name.startswith(("activations", "loss head"))]
        generating = states + [p for p in generation_phase if p not in states]
        if sum(p.bytes for p in generating) > plan.peak:  # generation is the peak: show its parts instead
            plan.parts = generating
    if how == ROLLOUTS and _get(recipe, "sync_ref_model", False) and _get(recipe, "beta", 0.0) > 0:
        # TRL's SyncRefModelCallback under ZeRO-3 gathers the whole policy and the whole reference
        # on every GPU to mix them, every ref_model_sync_steps steps, between the training passes.
        states = [p for p in parts if not p.name.startswith(("activations", "loss head", "vLLM"))]
        gathered = 2 * shape.params * (2 if hw.zero_stage == 3 and hw.distributed == "DEEPSPEED" else 0)
        if gathered:
            syncing = states + [Part("reference sync (gathered)", gathered,
                                     f"policy + reference, bf16, whole, every {_get(recipe, 'ref_model_sync_steps')} "
                                     "steps")]
            notes.append(f"reference-model sync: {gathered / GiB:.1f} GiB gathered on every GPU for a moment")
            if sum(p.bytes for p in syncing) > plan.peak:
                plan.parts = syncing
    per_step["tokens (at most)"] = f"{batch * hw.gpus * accumulation * seq:,}"
    per_step.update(_step_time(recipe, how, shape, hw, batch * hw.gpus * accumulation, seq, checkpointing,
                               options, rollouts))
    if hw.offload_optimizer or hw.offload_params:
        plan.host_need = memory.host_memory_for_offload(shape, hw)
        notes.append(f"host RAM per node for the offloaded states: {plan.host_need / GiB:,.0f} GiB "
                     "(DeepSpeed's estimate: 18 bytes a parameter with parameters offloaded, 16 without, x 1.5)")
        if plan.host_fits is False:
            plan.fix = (f"the offloaded states need {plan.host_need / GiB:,.0f} GiB of RAM per node and a node has "
                        f"{hw.host_memory_gib:,.0f}: more nodes (--num_machines) share them")
    if seq > shape.max_position_embeddings > 0:
        notes.append(f"sequences of {seq:,} tokens exceed the model's max_position_embeddings "
                     f"({shape.max_position_embeddings:,}){' (rope_theta is changed, the limit is not)' if _get(recipe, 'rope_theta', None) else ''}")
    return plan


def _grpo_generation(recipe, hw, shape, batch, seq, d, notes) -> tuple[list[Part], Part | None, int | None]:
    """Parts of the generation phase beyond the model states, vLLM's colocated share, and how
    many full-length rollouts vLLM holds at once."""
    steps_per_generation = _get(recipe, "steps_per_generation") or _get(recipe, "gradient_accumulation_steps")
    at_once = batch * steps_per_generation  # TRL's max_num_seqs for vLLM, the generation batch per process
    if recipe.values.get("generation_batch_size"):  # all processes together (TRL derived the steps at this one's size)
        at_once = max(int(recipe.values["generation_batch_size"]) // hw.gpus, 1)
    if not _get(recipe, "use_vllm", False):
        kv = at_once * seq * shape.kv_bytes_per_token
        parts = [Part("KV cache (transformers generate)", kv, f"{at_once} sequences x {seq:,} tokens"),
                 Part("generation logits", at_once * shape.vocab_size * 4 * 2, "fp32, one step")]
        if hw.distributed == "DEEPSPEED" and hw.zero_stage == 3 and _get(recipe, "ds3_gather_for_generation", True):
            parts.append(Part("gathered weights", 2 * shape.params * (1 - 1 / hw.gpus), "ds3_gather_for_generation"))
        return parts, None, None
    if _get(recipe, "vllm_mode") != "colocate":
        notes.append("vLLM runs in server mode, on other GPUs: not counted here")
        return [], None, None
    utilization = _get(recipe, "vllm_gpu_memory_utilization")
    tp = _get(recipe, "vllm_tensor_parallel_size", 1) or 1
    share = utilization * hw.memory
    cache = share - 2 * shape.params / tp - memory.VLLM_OVERHEAD
    kv_tokens = memory.kv_cache_tokens(shape, cache, tp)
    max_len = _get(recipe, "vllm_max_model_length") or seq
    rollouts = kv_tokens // max_len
    note = (f"{utilization:g} of the GPU: weights {2 * shape.params / tp / GiB:.1f} GiB, KV cache {kv_tokens:,} "
            f"tokens = {rollouts} rollouts of {max_len:,} tokens at once")
    if rollouts < 1:
        notes.append(f"vLLM's KV cache cannot hold one rollout of {max_len:,} tokens: raise "
                     f"vllm_gpu_memory_utilization or lower vllm_max_model_length")
        share = math.inf
    elif rollouts < at_once:
        notes.append(f"vLLM holds {rollouts} of the {at_once} rollouts per GPU at once at full length; "
                     f"longer ones queue (slower, not out of memory)")
    part = Part("vLLM (colocated)", share, note)
    return [part], part, rollouts


def _reward_models(recipe) -> list[tuple[str, str]]:
    found = []
    for spec in _get(recipe, "rewards", None) or []:
        if isinstance(spec, dict) and isinstance(spec.get("kwargs"), dict) and spec["kwargs"].get("model"):
            found.append((spec["name"], str(spec["kwargs"]["model"])))
    return found


def _step_time(recipe, how, shape, hw, sequences, seq, checkpointing, options, rollouts) -> dict[str, str]:
    """Training FLOPs at ``options.mfu`` of the GPUs' peak; GRPO's generation at least one
    weight read per decoding step (memory-bound)."""
    passes = 3 + (1 if checkpointing else 0)
    if how == ROLLOUTS and _get(recipe, "beta", 0.0) > 0:
        passes += 1
    flops = passes * memory.forward_flops(shape, sequences * seq, seq // 2)
    train = flops / (hw.gpus * hw.gpu.bf16_tflops * 1e12 * options.mfu)
    result = {"training": f"~{_seconds(train)} at {options.mfu:.0%} MFU"}
    if rollouts:
        completion = _get(recipe, "max_completion_length")
        waves = math.ceil(sequences / hw.gpus / rollouts)
        decode = waves * completion * (2 * shape.params) / (hw.gpu.bandwidth_tbs * 1e12)
        result["generation"] = f"~{_seconds(decode)} at most ({waves} wave(s) of {completion:,} decoding steps)"
    return result


def plan_generation(recipe, name: str, hw: Hardware, shape: ModelShape, options: Options) -> StagePlan:
    """A generation stage (``PLAN_AS = GENERATION``): one process, the model's weights and the KV
    cache of a batch."""
    hw = replace(hw, gpus=1, distributed="NO", zero_stage=0, offload_optimizer=False, offload_params=False)
    notes = []
    new_tokens = _get(recipe, "max_new_tokens")
    prompt = options.prompt_tokens or DEFAULT_PROMPT_TOKENS
    seqs = _get(recipe, "batch_size") * _get(recipe, "num_samples")
    backend = _get(recipe, "backend", "auto")
    weights = Part("weights", 2 * shape.params, "bf16, whole")
    budget = hw.memory - RESERVED
    if backend == "transformers":
        parts = [weights, Part("KV cache", seqs * (prompt + new_tokens) * shape.kv_bytes_per_token,
                               f"{seqs} sequences x {prompt + new_tokens:,} tokens"),
                 Part("generation logits", seqs * shape.vocab_size * 4 * 2, "fp32, one step")]
    else:
        share = VLLM_DEFAULT_UTILIZATION * hw.memory
        max_len = shape.max_position_embeddings or prompt + new_tokens
        kv_tokens = memory.kv_cache_tokens(shape, share - weights.bytes - memory.VLLM_OVERHEAD)
        parts = [Part("vLLM", share, f"gpu_memory_utilization {VLLM_DEFAULT_UTILIZATION}: weights "
                      f"{weights.bytes / GiB:.1f} GiB, KV cache {kv_tokens:,} tokens")]
        if kv_tokens < max_len:
            notes.append(f"vLLM needs the KV cache of one max_model_len sequence ({max_len:,} tokens) and has room "
                         f"for {kv_tokens:,}: it refuses to start")
            parts[0] = replace(parts[0], bytes=math.inf)
        else:
            notes.append(f"{kv_tokens // (prompt + new_tokens)} of the {seqs} sequences of a call decode at once "
                         f"at full length")
    plan = StagePlan(name, recipe.stage.name, shape, hw, parts, budget,
                     {"sequences per call": f"{seqs:,}", "tokens per call (at most)": f"{seqs * (prompt + new_tokens):,}"},
                     notes)
    if not plan.fits:
        plan.fix = ("the model's weights do not fit one GPU: generation needs tensor parallelism over several GPUs"
                    if weights.bytes > budget else "a smaller batch_size or max_new_tokens")
    return plan
