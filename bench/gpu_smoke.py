"""GRPO steps on one GPU, to measure what `python -m trl_r1 plan` can only estimate.

    python bench/gpu_smoke.py                 # one H100/H200: ~0.5B and ~1.5B, 1k and 4k tokens
    python bench/gpu_smoke.py --toy           # CPU, a tiny model, seconds (what CI runs)
    bench/gpu_wheels.sh                       # here: the wheels a bare GPU machine needs, and its command

Builds Qwen2-shaped models with random weights locally (no network, no vLLM), runs GRPO steps
through trl_r1's R1GRPOTrainer with transformers generation (a random model rarely stops, so
completions run to full length), and prints one JSON object per run: step time, generation
and training time, generated and trained tokens/s, peak memory next to the plan's estimate for
the same configuration, and model FLOPs utilisation of the training part.

It refuses to report a GPU run whose model is not on the GPU (a configuration parsed for another
machine keeps that machine's device: transformers settles it while parsing), and it never starts
a configuration that its measured pace says cannot finish inside ``--budget_s``.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

# Qwen2.5-0.5B's and Qwen2.5-1.5B's shapes (trl_r1/plan/shapes.json); "toy" is for CPU tests.
SIZES = {
    "0.5B": dict(hidden_size=896, intermediate_size=4864, num_hidden_layers=24, num_attention_heads=14,
                 num_key_value_heads=2, vocab_size=151936, tie_word_embeddings=True),
    "1.5B": dict(hidden_size=1536, intermediate_size=8960, num_hidden_layers=28, num_attention_heads=12,
                 num_key_value_heads=2, vocab_size=151936, tie_word_embeddings=True),
    "toy": dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                num_key_value_heads=2, vocab_size=512, tie_word_embeddings=True),
    "small": dict(hidden_size=256, intermediate_size=1024, num_hidden_layers=4, num_attention_heads=4,
                  num_key_value_heads=2, vocab_size=2048, tie_word_embeddings=True),  # CPU benches
}
PROMPT_WORDS = 32  # prompt length in tokens (one token per word)


def build(size: str, folder: Path) -> Path:
    """A random Qwen2 model and a word-level tokenizer covering its whole vocabulary, saved."""
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast, Qwen2Config, Qwen2ForCausalLM

    shape = SIZES[size]
    specials = ["<pad>", "</s>"]
    vocab = {t: i for i, t in enumerate(specials + [f"w{i}" for i in range(shape["vocab_size"] - len(specials))])}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="<pad>"))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<pad>", eos_token="</s>")
    config = Qwen2Config(**shape, max_position_embeddings=32768, pad_token_id=0, eos_token_id=1, bos_token_id=1)
    torch.manual_seed(0)
    Qwen2ForCausalLM(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def recipe_for(model: Path, out: Path, batch: int, completion: int, steps: int, gpu: bool):
    """The run as a trl_r1 recipe: the planner and the trainer read the same configuration. Parsed
    for this machine, not with ``check_only``: a check-only parse settles the device as the CPU."""
    from trl_r1.recipe import load_recipe

    values = dict(
        stage="grpo", model_name_or_path=str(model), dataset_name="builtin:arithmetic",
        rewards=[{"name": "format", "kwargs": {"template": "zero", "strict": False}}], prompt_template="zero",
        stop_at_template_end=False,  # every completion runs to its full length: the lengths are what is measured
        num_generations=batch, per_device_train_batch_size=batch, gradient_accumulation_steps=1,
        max_completion_length=completion, temperature=1.0, beta=0.0, learning_rate=1e-6,
        gradient_checkpointing=True, bf16=gpu, dtype="bfloat16" if gpu else "float32", use_cpu=not gpu,
        max_steps=steps, logging_steps=1, save_strategy="no", report_to=[], output_dir=str(out), seed=0,
    )
    return load_recipe(None, values=values)


def plan_estimate(recipe, gpu_name: str | None, prompt: int) -> float:
    """`plan`'s per-GPU peak for the same configuration on one GPU of this kind."""
    from trl_r1.plan.hardware import GPUS, Hardware
    from trl_r1.plan.planner import Options, plan_training
    from trl_r1.plan.shapes import model_shape

    gpu = GPUS["H200-141GB" if gpu_name and "H200" in gpu_name else "H100-80GB"]
    model = recipe.configs[2].model_name_or_path
    plan = plan_training(recipe, "smoke", Hardware(gpu), model_shape(model), {}, Options(prompt_tokens=prompt))
    return plan.peak


def require_device(model, gpu: bool) -> str:
    """The device the model's parameters are on; raises when a GPU run's model is not on the GPU,
    so that no CPU figure is ever reported under a GPU's name."""
    devices = {p.device.type for p in model.parameters()}
    if gpu and devices != {"cuda"}:
        raise RuntimeError(f"the model's parameters are on {sorted(devices)}, not on the GPU: refusing to report "
                           "(was the configuration parsed for another machine, e.g. with check_only?)")
    return devices.pop() if len(devices) == 1 else ",".join(sorted(devices))


def predicted_seconds(done: list[dict], size: str, completion: int) -> float | None:
    """How long a configuration should take, from the runs done so far: the closest run's time
    scaled by parameters x completion tokens (generation and training both grow about linearly
    in each at these sizes); None before any run."""
    if not done:
        return None
    params = model_params(size)
    last = done[-1]
    scale = (params / last["params"]) * (completion / last["completion_tokens"])
    return last["wall_s"] * max(scale, 0.1)


def model_params(size: str) -> int:
    from trl_r1.plan.shapes import ModelShape

    shape = SIZES[size]
    return ModelShape.from_config(size, "gpu_smoke", {"model_type": "qwen2", **shape}).params


def run_one(size: str, completion: int, batch: int, steps: int, gpu: bool) -> dict:
    import torch
    from datasets import Dataset
    from transformers import PreTrainedTokenizerFast

    from trl_r1.plan import memory
    from trl_r1.plan.shapes import model_shape
    from trl_r1.train.trainer import R1GRPOTrainer

    with tempfile.TemporaryDirectory() as tmp:
        model_dir = build(size, Path(tmp) / "model")
        recipe = recipe_for(model_dir, Path(tmp) / "out", batch, completion, steps, gpu)
        args = recipe.configs[1]
        args.model_init_kwargs = {"dtype": torch.bfloat16 if gpu else torch.float32, "attn_implementation": "sdpa"}
        prompts = [" ".join(f"w{(i * 7 + j) % 1000 + 2}" for j in range(PROMPT_WORDS)) for i in range(batch * steps)]
        timings = {"generation": 0.0}

        class Timed(R1GRPOTrainer):
            def _generate_and_score_completions(self, inputs):  # TRL 1.16's generation phase
                start = time.perf_counter()
                result = super()._generate_and_score_completions(inputs)
                timings["generation"] += time.perf_counter() - start
                return result

        tokenizer = PreTrainedTokenizerFast.from_pretrained(model_dir)  # not the Qwen2 class AutoTokenizer picks
        trainer = Timed(model=str(model_dir), args=args, train_dataset=Dataset.from_dict({"prompt": prompts}),
                        processing_class=tokenizer)
        device = require_device(trainer.model, gpu)
        if gpu:
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
        start = time.perf_counter()
        trainer.train()
        if gpu:
            torch.cuda.synchronize()
        seconds = time.perf_counter() - start
        require_device(trainer.model, gpu)
        peak = torch.cuda.max_memory_allocated() if gpu else None
        logs = [entry for entry in trainer.state.log_history if "completions/mean_length" in entry]
        generated = sum(entry["completions/mean_length"] for entry in logs) * batch
        prompt_tokens = PROMPT_WORDS * batch * len(logs)
        trained = generated + prompt_tokens
        shape = model_shape(str(model_dir))
        train_seconds = max(seconds - timings["generation"], 1e-9)
        flops = 4 * memory.forward_flops(shape, int(trained), (PROMPT_WORDS + completion) // 2)  # 3 passes + recompute
        gpu_name = torch.cuda.get_device_name() if gpu else None
        peak_flops = None
        if gpu:
            from trl_r1.plan.hardware import GPUS

            peak_flops = GPUS["H200-141GB" if "H200" in gpu_name else "H100-80GB"].bf16_tflops * 1e12
        estimate = plan_estimate(recipe, gpu_name, PROMPT_WORDS)
        return {
            "model": size, "params": shape.params, "device": gpu_name or device, "params_device": device,
            "completion_tokens": completion,
            "batch": batch, "steps": len(logs), "step_time_s": round(seconds / max(len(logs), 1), 3),
            "generation_s": round(timings["generation"], 3), "training_s": round(train_seconds, 3),
            "generated_tok_per_s": round(generated / max(timings["generation"], 1e-9), 1),
            "trained_tok_per_s": round(trained / train_seconds, 1),
            "peak_memory_gib": round(peak / 2**30, 2) if peak is not None else None,
            "plan_estimate_gib": round(estimate / 2**30, 2),
            "mfu": round(flops / train_seconds / peak_flops, 4) if peak_flops else None,
        }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--toy", action="store_true", help="a tiny model on CPU (tests)")
    parser.add_argument("--sizes", default="0.5B,1.5B")
    parser.add_argument("--lengths", default="1024,4096", help="completion lengths in tokens")
    parser.add_argument("--batch", type=int, default=8, help="completions per step (one prompt's group)")
    parser.add_argument("--steps", type=int, default=2)
    parser.add_argument("--budget_s", type=float, default=360.0,
                        help="seconds for all runs: a run is started only if its predicted time fits what is left")
    args = parser.parse_args(argv)
    import torch

    gpu = torch.cuda.is_available() and not args.toy
    if args.toy:
        sizes, lengths, batch, steps = ["toy"], [16], 4, 1
    else:
        sizes, lengths, batch, steps = args.sizes.split(","), [int(x) for x in args.lengths.split(",")], args.batch, args.steps
        if not gpu:
            print("no GPU: use --toy for the CPU size", file=sys.stderr)
            return 2
    start, results = time.perf_counter(), []
    for size in sizes:
        for length in lengths:
            left = args.budget_s - (time.perf_counter() - start)
            expected = predicted_seconds(results, size, length)
            if left <= 0 or (expected is not None and expected > left):
                print(json.dumps({"model": size, "completion_tokens": length, "skipped": "time budget",
                                  "expected_s": round(expected, 1) if expected else None, "left_s": round(left, 1)}),
                      flush=True)
                continue
            began = time.perf_counter()
            result = run_one(size, length, batch, steps, gpu)
            result["wall_s"] = round(time.perf_counter() - began, 1)  # with model building: what the budget pays
            results.append(result)
            print(json.dumps(result), flush=True)
            if gpu:
                torch.cuda.empty_cache()
    return 0


if __name__ == "__main__":
    sys.exit(main())
