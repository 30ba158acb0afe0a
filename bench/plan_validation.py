"""Check `python -m trl_r1 plan`'s memory model against DeepSpeed and against measured peaks.

1. Model states: for every shipped model shape, the architecture is built by transformers on
   the meta device (its parameter count is the truth, not our formula), DeepSpeed's own
   ``estimate_zero3_model_states_mem_needs`` / ``estimate_zero2_model_states_mem_needs`` give
   the GPU bytes, and the plan's model states must agree within 5%.
2. Activations and the loss head: small Qwen2-shaped random models (3 sizes x 2 sequence
   lengths, with and without gradient checkpointing) run TRL's loss pass (the fused LM head,
   forward + backward) on this CPU in fp32, each in a fresh process; the peak resident memory
   above the model's own (weights and gradients already allocated) must be within 20% of the
   plan's activations + loss head.

    pip install deepspeed   # part 1 only
    python bench/plan_validation.py [--skip-deepspeed] [--skip-measure] [--cache measured.jsonl]

Prints both tables as markdown (docs/plan.md holds the last run's).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

GiB = 1024**3
# Small Qwen2 shapes for the measured part: (hidden, intermediate, layers, heads, kv heads).
SIZES = {"qwen2-30M": (512, 2048, 8, 8, 2), "qwen2-100M": (768, 3072, 12, 12, 2), "qwen2-250M": (1024, 4096, 16, 16, 4)}
# A quarter of one vocabulary tile of TRL's fused head: the decoder layers, not the head's CPU-only
# temporaries, should dominate what is measured (Qwen2's 151,936 entries would only be slower here).
VOCAB = 8192
LENGTHS = (256, 1024)  # tokens per sequence, half prompt and half completion
BATCH = 2


def shape_of(name: str):
    from trl_r1.plan.shapes import ModelShape

    h, i, layers, heads, kv = SIZES[name]
    return ModelShape.from_config(name, "bench", dict(
        model_type="qwen2", hidden_size=h, intermediate_size=i, num_hidden_layers=layers, num_attention_heads=heads,
        num_key_value_heads=kv, vocab_size=VOCAB, max_position_embeddings=4096, tie_word_embeddings=True))


def _rss(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field):
                return int(line.split()[1]) * 1024
    raise RuntimeError(field)


def measure(name: str, length: int, checkpointing: bool) -> float:
    """Peak bytes of one fused-head forward + backward above the trained model's own memory."""
    import torch
    from transformers import Qwen2Config, Qwen2ForCausalLM
    from trl.trainer.utils import add_fused_lm_head

    torch.manual_seed(0)
    torch.set_num_threads(1)
    s = shape_of(name)
    model = Qwen2ForCausalLM(Qwen2Config(
        hidden_size=s.hidden_size, intermediate_size=s.intermediate_size, num_hidden_layers=s.num_hidden_layers,
        num_attention_heads=s.num_attention_heads, num_key_value_heads=s.num_key_value_heads, vocab_size=VOCAB,
        tie_word_embeddings=True, attn_implementation="sdpa"))
    model.train()
    if checkpointing:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    add_fused_lm_head(model, outputs=("log_probs", "entropy"))

    def step(seq: int) -> None:
        ids = torch.randint(0, VOCAB, (BATCH, seq))
        mask = torch.ones_like(ids)
        mask[0, :1] = 0  # one padded position: a padding mask, as in GRPO's batches
        labels = ids.masked_fill(mask == 0, -100)
        labels[:, : seq // 2] = -100  # score the completion half only
        out = model(input_ids=ids, attention_mask=mask, labels=labels, fused_lm_head=True)
        (-(out.log_probs.sum()) / labels.ne(-100).sum()).backward()

    step(8)  # allocate the gradients
    model.zero_grad(set_to_none=False)
    base = _rss("VmRSS")
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")  # reset the peak (VmHWM) to the current resident size
    step(length)
    return _rss("VmHWM") - base


def measured_table(cache: Path | None = None) -> list[dict]:
    """Every size x length x checkpointing, measured in a fresh process; with ``cache`` (JSON
    lines), measurements already there are reused and new ones appended (a shared machine's
    out-of-memory kill then costs one run, not all)."""
    from trl_r1.plan import memory

    known = {}
    if cache is not None and cache.is_file():
        for line in cache.read_text().splitlines():
            row = json.loads(line)
            known[row["model"], row["length"], row["checkpointing"]] = row["measured"]
    rows = []
    for name in SIZES:
        for length in LENGTHS:
            for checkpointing in (False, True):
                peak = known.get((name, length, checkpointing))
                if peak is None:
                    env = {**os.environ, "MALLOC_MMAP_THRESHOLD_": "65536", "OMP_NUM_THREADS": "1"}
                    out = subprocess.run([sys.executable, __file__, "--one", name, str(length), str(int(checkpointing))],
                                         capture_output=True, text=True, env=env, check=True)
                    peak = float(out.stdout.strip().splitlines()[-1])
                    if cache is not None:
                        with cache.open("a") as f:
                            f.write(json.dumps(dict(model=name, length=length, checkpointing=checkpointing,
                                                    measured=peak)) + "\n")
                s, tokens = shape_of(name), BATCH * length
                estimate = (memory.activations(s, tokens, checkpointing, dtype_bytes=4).bytes
                            + memory.loss_head(s, tokens, tokens, dtype_bytes=4, device="cpu").bytes)
                rows.append(dict(model=name, params=s.params, tokens=tokens, checkpointing=checkpointing,
                                 measured=peak, estimate=estimate, error=estimate / peak - 1))
                print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
    return rows


def deepspeed_table() -> list[dict]:
    import torch
    import transformers
    from deepspeed.runtime.zero.stage3 import estimate_zero3_model_states_mem_needs
    from deepspeed.runtime.zero.stage_1_and_2 import estimate_zero2_model_states_mem_needs

    from trl_r1.plan import memory
    from trl_r1.plan.hardware import GPUS, Hardware
    from trl_r1.plan.shapes import model_shape, shipped_shapes

    rows = []
    for name, config in shipped_shapes().items():
        config = {k: v for k, v in config.items() if k != "source"}
        with torch.device("meta"):
            model = transformers.AutoModelForCausalLM.from_config(transformers.AutoConfig.for_model(**config))
        params = sum(p.numel() for p in model.parameters())  # tied weights are one Parameter
        largest = max(sum(p.numel() for p in m.parameters(recurse=False)) for m in model.modules())
        shape = model_shape(name)
        for label, hw in (
            ("ZeRO-3, 8 GPUs", Hardware(GPUS["H100-80GB"], gpus=8, distributed="DEEPSPEED", zero_stage=3)),
            ("ZeRO-3 + offload, 8 GPUs", Hardware(GPUS["H100-80GB"], gpus=8, distributed="DEEPSPEED", zero_stage=3,
                                                  offload_optimizer=True, offload_params=True)),
            ("ZeRO-2, 8 GPUs", Hardware(GPUS["H100-80GB"], gpus=8, distributed="DEEPSPEED", zero_stage=2)),
        ):
            if hw.zero_stage == 3:
                _, ds, _ = estimate_zero3_model_states_mem_needs(
                    params, largest, num_gpus_per_node=8, cpu_offload=hw.offload_optimizer,
                    cpu_offload_params=hw.offload_params)
            else:
                _, ds = estimate_zero2_model_states_mem_needs(params, num_gpus_per_node=8, cpu_offload=False)
            ours = sum(p.bytes for p in memory.model_states(shape, hw))
            rows.append(dict(model=name, setup=label, params=params, deepspeed=ds, plan=ours, error=ours / ds - 1))
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skip-deepspeed", action="store_true")
    parser.add_argument("--skip-measure", action="store_true")
    parser.add_argument("--cache", type=Path, help="JSON lines of measurements to reuse and extend")
    parser.add_argument("--one", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.one:
        name, length, checkpointing = args.one
        print(measure(name, int(length), checkpointing == "1"))
        return 0
    worst = 0.0
    if not args.skip_deepspeed:
        rows = deepspeed_table()
        print("| model | setup | parameters | DeepSpeed (GiB/GPU) | plan (GiB/GPU) | difference |")
        print("|---|---|---|---|---|---|")
        for r in rows:
            print(f"| {r['model']} | {r['setup']} | {r['params'] / 1e9:.2f}B | {r['deepspeed'] / GiB:.2f} "
                  f"| {r['plan'] / GiB:.2f} | {r['error']:+.1%} |")
        worst = max(worst, max(abs(r["error"]) for r in rows) / 0.05)
        print()
    if not args.skip_measure:
        rows = measured_table(args.cache)
        print(f"| model | tokens (batch {BATCH}) | checkpointing | measured peak (MiB) | plan (MiB) | difference |")
        print("|---|---|---|---|---|---|")
        for r in rows:
            print(f"| {r['model']} ({r['params'] / 1e6:.0f}M) | {r['tokens']:,} | {'yes' if r['checkpointing'] else 'no'} "
                  f"| {r['measured'] / 2**20:.0f} | {r['estimate'] / 2**20:.0f} | {r['error']:+.1%} |")
        worst = max(worst, max(abs(r["error"]) for r in rows) / 0.20)
    print(f"\nworst difference / tolerance: {worst:.2f} ({'within' if worst <= 1 else 'OUTSIDE'} tolerance)")
    return 0 if worst <= 1 else 1


if __name__ == "__main__":
    sys.exit(main())
