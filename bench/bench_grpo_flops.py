"""A GRPO step against the physical limit: the FLOPs a step does, per second of step time, next
to this CPU's measured matmul peak (fp32 and bf16) and next to plain TRL ``GRPOTrainer`` on the
same job (R1GRPOTrainer's overhead).

What is counted, per step (G completions of one prompt; P prompt tokens, C completion tokens
each; N = the model's non-embedding parameters, H = hidden size, V = vocabulary):

- generation: prefill 2N*P per sequence, decoding 2N per generated token, plus the output
  projection 2HV per generated token (HF computes logits for the last position only);
- policy forward + backward on prompt + completion: 6N per token, plus 6HV per token (the logits);
- reference forward when beta > 0: 2(N + HV) per token.
Attention's sequence-length terms are left out (under 2% at these lengths), so the figure is a
slight undercount. The peak is ``torch.matmul`` at the model's MLP shape (tokens x H @ H x 4H).

    python bench/bench_grpo_flops.py [--steps 4] [--bf16] [--max-completion-length 64] [--tiny DIR]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def matmul_peak(tokens: int, hidden: int, inner: int, dtype: torch.dtype, seconds: float = 1.0) -> float:
    """FLOP/s of ``torch.matmul`` at (tokens x hidden) @ (hidden x inner) in ``dtype``."""
    a = torch.randn(tokens, hidden, dtype=dtype)
    b = torch.randn(hidden, inner, dtype=dtype)
    for _ in range(3):
        torch.matmul(a, b)
    n, start = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - start) < seconds:
        torch.matmul(a, b)
        n += 1
    return 2 * tokens * hidden * inner * n / elapsed


def model_sizes(model_path: str) -> tuple[int, int, int, int]:
    """(non-embedding parameters, hidden size, vocabulary, MLP width) of a causal LM."""
    from transformers import AutoConfig, AutoModelForCausalLM

    config = AutoConfig.from_pretrained(model_path)
    model = AutoModelForCausalLM.from_pretrained(model_path)
    embeddings = {id(p) for p in model.get_input_embeddings().parameters()}
    embeddings |= {id(p) for p in model.get_output_embeddings().parameters()}
    non_embedding = sum(p.numel() for p in model.parameters() if id(p) not in embeddings)
    return non_embedding, config.hidden_size, config.vocab_size, getattr(config, "intermediate_size", 4 * config.hidden_size)


def step_flops(n: int, hidden: int, vocab: int, g: int, prompt: float, completion: float, beta: float) -> dict:
    """The FLOPs of one GRPO step (see the module docstring), by part."""
    head = hidden * vocab
    parts = {
        "generation": g * (2 * n * prompt + (2 * n + 2 * head) * completion),
        "policy fwd+bwd": g * (6 * n + 6 * head) * (prompt + completion),
    }
    if beta > 0:
        parts["reference fwd"] = g * 2 * (n + head) * (prompt + completion)
    return parts


class StepTimer:
    """Wall time of every optimizer step (generation included: TRL generates inside the step)."""

    def __init__(self):
        self.times: list[float] = []

    def callback(self):
        from transformers import TrainerCallback

        timer = self

        class _Timer(TrainerCallback):
            def on_step_begin(self, args, state, control, **kwargs):
                timer.start = time.perf_counter()

            def on_step_end(self, args, state, control, **kwargs):
                timer.times.append(time.perf_counter() - timer.start)

        return _Timer()


def run_trainer(kind: str, model_path: str, args_kwargs: dict, steps: int):
    """Train ``steps`` steps with R1GRPOTrainer (``r1``) or plain GRPOTrainer (``trl``) on the same
    job; returns (step times, logged metrics)."""
    from trl import GRPOConfig, GRPOTrainer
    from trl_r1_rewards import load_reward

    from trl_r1.data.tasks import arithmetic
    from trl_r1.data.templates import make_prompt
    from trl_r1.train.config import R1GRPOConfig
    from trl_r1.train.trainer import R1GRPOTrainer

    rows = arithmetic(num_train=64, num_test=1)["train"]
    rows = rows.map(lambda r: {"prompt": make_prompt(r["problem"], "chat", SYSTEM, EXAMPLES)})
    rewards = [load_reward("accuracy"), load_reward("format", template="r1", strict=False)]
    timer = StepTimer()
    common = dict(output_dir=f"/tmp/bench_grpo_flops/{kind}", max_steps=steps, report_to="none", use_cpu=True,
                  logging_steps=1, save_strategy="no", seed=0, **args_kwargs)
    if kind == "r1":
        config = R1GRPOConfig(**common, rewards=["accuracy", {"name": "format", "kwargs": {"template": "r1", "strict": False}}])
        trainer = R1GRPOTrainer(model=model_path, args=config, train_dataset=rows, callbacks=[timer.callback()])
    else:
        trainer = GRPOTrainer(model=model_path, reward_funcs=rewards, args=GRPOConfig(**common), train_dataset=rows,
                              callbacks=[timer.callback()])
    trainer.train()
    logs = [h for h in trainer.state.log_history if "completions/mean_length" in h]
    tokenizer = trainer.processing_class
    prompt_tokens = statistics.mean(
        len(tokenizer(tokenizer.apply_chat_template(p, add_generation_prompt=True, tokenize=False),
                      add_special_tokens=False)["input_ids"]) for p in rows["prompt"][:8])
    return timer.times, logs, prompt_tokens


SYSTEM = "Think inside <think> </think>, then give the answer in \\boxed{}."
EXAMPLES = [{"role": "user", "content": "What is 2 + 3?"},
            {"role": "assistant", "content": "<think>\n2 + 3 = 5\n</think>\n\nThe answer is \\boxed{5}."}]


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="embedded:SmolLM2-135M-Instruct")
    parser.add_argument("--steps", type=int, default=4, help="steps per trainer; the first is warm-up, not timed")
    parser.add_argument("--num-generations", type=int, default=8)
    parser.add_argument("--max-completion-length", type=int, default=64)
    parser.add_argument("--beta", type=float, default=0.0)
    parser.add_argument("--bf16", action="store_true", help="bf16 autocast (CPUs with AVX512-BF16 or AMX)")
    parser.add_argument("--trainers", default="r1,trl", help="comma-separated: r1 (R1GRPOTrainer), trl (GRPOTrainer)")
    parser.add_argument("--peak-seconds", type=float, default=1.0, help="time spent measuring each matmul peak")
    args = parser.parse_args(argv)

    from trl_r1.models import resolve_model

    model_path = resolve_model(args.model)
    n, hidden, vocab, inner = model_sizes(model_path)
    g = args.num_generations
    config = dict(num_generations=g, per_device_train_batch_size=g, max_completion_length=args.max_completion_length,
                  beta=args.beta, bf16=args.bf16, learning_rate=1e-5, temperature=1.0)
    print(f"model {args.model}: {n / 1e6:.1f}M non-embedding parameters, hidden {hidden}, vocabulary {vocab}; "
          f"{g} completions of <= {args.max_completion_length} tokens per step, beta {args.beta}, "
          f"{'bf16 autocast' if args.bf16 else 'fp32'}, {torch.get_num_threads()} threads")
    tokens = g * (100 + args.max_completion_length)
    peaks = {name: matmul_peak(tokens, hidden, inner, dtype, args.peak_seconds) for name, dtype in (("fp32", torch.float32), ("bf16", torch.bfloat16))}
    print(f"matmul peak at ({tokens} x {hidden}) @ ({hidden} x {inner}): "
          + ", ".join(f"{k} {v / 1e9:.1f} GFLOP/s" for k, v in peaks.items()))

    results = {"peaks": peaks}
    for kind in args.trainers.split(","):
        times, logs, prompt = run_trainer(kind, model_path, config, args.steps)
        timed = times[1:] or times
        completion = statistics.mean(h["completions/mean_length"] for h in logs[1:] or logs)
        parts = step_flops(n, hidden, vocab, g, prompt, completion, args.beta)
        total = sum(parts.values())
        step = statistics.mean(timed)
        spread = statistics.stdev(timed) if len(timed) > 1 else 0.0
        achieved = total / step
        peak = peaks["bf16" if args.bf16 else "fp32"]
        name = "R1GRPOTrainer" if kind == "r1" else "TRL GRPOTrainer"
        print(f"\n{name}: {step:.2f} s per step (± {spread:.2f}, {len(timed)} timed steps); prompt {prompt:.0f} tokens, "
              f"completion {completion:.1f} tokens")
        for part, flops in parts.items():
            print(f"  {part:16s} {flops / 1e9:8.1f} GFLOP")
        print(f"  achieved {achieved / 1e9:.1f} GFLOP/s = {100 * achieved / peak:.1f}% of the "
              f"{'bf16' if args.bf16 else 'fp32'} matmul peak ({100 * achieved / peaks['fp32']:.1f}% of fp32's, "
              f"{100 * achieved / peaks['bf16']:.1f}% of bf16's)")
        results[kind] = {"step_seconds": step, "step_stdev": spread, "flops": total, "achieved": achieved}
    if "r1" in results and "trl" in results:
        ratio = results["r1"]["step_seconds"] / results["trl"]["step_seconds"]
        print(f"\nR1GRPOTrainer / GRPOTrainer step time: {ratio:.2f}")
    return results


if __name__ == "__main__":
    main()
