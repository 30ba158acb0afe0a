"""What one long completion costs a GRPO step: R1GRPOTrainer (each micro-batch cut to its own longest
completion) against TRL's GRPOTrainer (every micro-batch padded to the batch's longest), same run.

    python bench/bench_padding.py            # CPU, a small random Qwen2 model, ~1 min

A generation batch of 16 completions, one of LONG tokens and fifteen of SHORT, trained with
micro-batches of one (the GPU recipes' layout): the old-log-prob pass (no grad) and the loss with
its backward pass, timed for both trainers on the same model and batch. Prints the seconds, the
tokens each trainer feeds the model, the ratio, the loss difference, and the gradients' difference
as a share of their norm (float32 sums over a different column count round differently).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from gpu_smoke import PROMPT_WORDS, build  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--long", type=int, default=512)
    parser.add_argument("--short", type=int, default=32)
    parser.add_argument("--rows", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--dtype", default="float32", help="float64 shows the gradients differ by rounding alone")
    args = parser.parse_args(argv)
    import torch
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, PreTrainedTokenizerFast
    from trl import GRPOConfig, GRPOTrainer

    from trl_r1.train.trainer import R1GRPOTrainer

    torch.manual_seed(0)
    with tempfile.TemporaryDirectory() as tmp:
        folder = build("small", Path(tmp) / "model")
        tokenizer = PreTrainedTokenizerFast.from_pretrained(folder)
        config = GRPOConfig(output_dir=str(Path(tmp) / "out"), per_device_train_batch_size=1, num_generations=args.rows,
                            gradient_accumulation_steps=args.rows, max_completion_length=args.long, beta=0.0,
                            use_cpu=True, report_to=[], logging_steps=1)
        data = Dataset.from_dict({"prompt": ["w2 w3"] * args.rows})
        model = AutoModelForCausalLM.from_pretrained(folder, dtype=getattr(torch, args.dtype))
        reward = lambda completions, **k: [0.0] * len(completions)  # noqa: E731
        ours = R1GRPOTrainer(model=model, args=config, reward_funcs=reward, train_dataset=data, processing_class=tokenizer)
        trls = GRPOTrainer(model=model, args=config, reward_funcs=reward, train_dataset=data, processing_class=tokenizer)

        prompt = torch.randint(2, 2000, (args.rows, PROMPT_WORDS))
        completion = torch.randint(2, 2000, (args.rows, args.long))
        completion_mask = torch.zeros(args.rows, args.long, dtype=torch.long)
        completion_mask[0] = 1
        completion_mask[1:, :args.short] = 1
        batch = {"prompt_ids": prompt, "prompt_mask": torch.ones_like(prompt), "completion_ids": completion,
                 "completion_mask": completion_mask, "advantages": torch.randn(args.rows)}
        for trainer in (ours, trls):  # what Trainer.train sets before the first step
            trainer.current_gradient_accumulation_steps = args.rows
        ids = torch.cat([prompt, completion], 1)
        mask = torch.cat([batch["prompt_mask"], completion_mask], 1)

        def step(trainer):
            model.zero_grad()
            with torch.no_grad():
                trainer._get_per_token_logps_and_entropies(model, ids, mask, args.long, batch_size=1)
            losses = []
            for row in range(args.rows):  # one micro-batch a row, as gradient accumulation runs them
                micro = {k: v[row:row + 1] for k, v in batch.items()}
                micro["num_items_in_batch"] = completion_mask.sum()  # TRL's count over the whole step
                loss = trainer.compute_loss(model, micro) / args.rows
                loss.backward()
                losses.append(loss.detach())
            return torch.stack(losses).sum(), {n: p.grad.clone() for n, p in model.named_parameters()}

        model.train()
        seconds = {"trl": [], "ours": []}
        for _ in range(args.repeats):  # alternated, so that both see the same machine
            for name, trainer in (("trl", trls), ("ours", ours)):
                start = time.perf_counter()
                loss, grads = step(trainer)
                seconds[name].append(time.perf_counter() - start)
                if name == "trl":
                    trl_loss, trl_grads = loss, grads
                else:
                    our_loss, our_grads = loss, grads
        real = PROMPT_WORDS * args.rows + args.long + args.short * (args.rows - 1)
        padded = (PROMPT_WORDS + args.long) * args.rows
        best = {k: min(v) for k, v in seconds.items()}
        print(json.dumps({
            "rows": args.rows, "long": args.long, "short": args.short,
            "tokens_fed": {"trl": padded, "ours": real}, "token_ratio": round(padded / real, 2),
            "seconds": {k: round(v, 3) for k, v in best.items()}, "speedup": round(best["trl"] / best["ours"], 2),
            "max_loss_difference": float((our_loss - trl_loss).abs()),
            "gradient_difference_relative": float(torch.sqrt(sum(((our_grads[n] - trl_grads[n]) ** 2).sum() for n in trl_grads))
                                                  / torch.sqrt(sum((g ** 2).sum() for g in trl_grads.values()))),
        }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
