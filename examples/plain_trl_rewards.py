"""R1's rewards in a plain TRL script: `trl_r1_rewards` works in any TRL project.

Nothing here imports trl_r1. The rewards package is installed on its own
(`pip install ./rewards`), and `load_reward` returns ordinary TRL reward functions that go
straight into `trl.GRPOTrainer`; they are logged as `rewards/accuracy/mean` and
`rewards/format/mean`, like any other reward function.

    python examples/plain_trl_rewards.py                          # SmolLM2-135M-Instruct from the Hub
    python examples/plain_trl_rewards.py --model /path/to/model   # offline: any local model directory
"""

import argparse
import random

from datasets import Dataset
from trl import GRPOConfig, GRPOTrainer
from trl_r1_rewards import load_reward

SYSTEM = "Think inside <think> </think>, then give the answer in \\boxed{}."


def arithmetic(n: int = 64, seed: int = 0) -> Dataset:
    """Conversational prompts "What is a + b?" with the answer in a `solution` column (read by `accuracy`)."""
    rng = random.Random(seed)
    rows = [(rng.randint(1, 50), rng.randint(1, 50)) for _ in range(n)]
    return Dataset.from_list([
        {"prompt": [{"role": "system", "content": SYSTEM}, {"role": "user", "content": f"What is {a} + {b}?"}],
         "solution": str(a + b)}
        for a, b in rows
    ])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="HuggingFaceTB/SmolLM2-135M-Instruct", help="Hub id or local path")
    parser.add_argument("--max_steps", type=int, default=5)
    parser.add_argument("--output_dir", default="outputs/plain-trl-rewards")
    args = parser.parse_args()

    reward_funcs = [load_reward("accuracy"), load_reward("format", template="r1", strict=False)]
    config = GRPOConfig(
        output_dir=args.output_dir, max_steps=args.max_steps, learning_rate=1e-5,
        num_generations=4, per_device_train_batch_size=4, max_completion_length=48,
        logging_steps=1, save_strategy="no", report_to="none", use_cpu=True, bf16=False,
    )
    trainer = GRPOTrainer(model=args.model, reward_funcs=reward_funcs, args=config, train_dataset=arithmetic())
    trainer.train()
    trainer.save_model()  # to --output_dir

    for log in trainer.state.log_history:  # one line per step: the mean of each reward
        means = {k: v for k, v in log.items() if k.startswith("rewards/") and k.endswith("/mean")}
        if means:
            print(f"step {log['step']}: " + ", ".join(f"{k}={v:.3f}" for k, v in means.items()))


if __name__ == "__main__":
    main()
