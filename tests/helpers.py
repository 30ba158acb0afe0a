"""Test helpers: a tiny random causal LM with a real tokenizer and chat template, built
locally in seconds (no Hub), tiny recipes, running ``python -m trl_r1`` for real, and a judge
server speaking OpenAI's chat-completions protocol on 127.0.0.1."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import yaml
from tiny_models import (  # noqa: F401 (rewards/tests)
    CHAT_TEMPLATE,
    build_tiny_classifier,
    tiny_llama_config,
    tiny_tokenizer,
)

REPO = Path(__file__).resolve().parent.parent

# Two model families' chat templates, reduced to what decides where a turn ends: the end-of-text
# token of the base tokenizer differs from the token that ends an assistant turn.
FAMILIES = {
    "qwen2": {"eos": "<|endoftext|>", "specials": ["<|endoftext|>", "<|im_start|>", "<|im_end|>"],
              "template": "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
                          "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"},
    "llama": {"eos": "<|end_of_text|>",
              "specials": ["<|begin_of_text|>", "<|end_of_text|>", "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"],
              "template": "<|begin_of_text|>{% for m in messages %}<|start_header_id|>{{ m['role'] }}<|end_header_id|>\n\n"
                          "{{ m['content'] }}<|eot_id|>{% endfor %}"
                          "{% if add_generation_prompt %}<|start_header_id|>assistant<|end_header_id|>\n\n{% endif %}"},
}


def build_family_model(path: Path, family: str) -> Path:
    """A tiny random model of ``family`` (``qwen2``, ``llama``) with a tokenizer shaped like the
    family's base tokenizer: its special tokens, chat template and end-of-text token."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import AutoConfig, AutoModelForCausalLM, PreTrainedTokenizerFast

    spec = FAMILIES[family]
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.train_from_iterator(["What is 12 + 7? <think> 12 + 7 = 19 </think> The answer is 19."] * 10,
                            trainers.BpeTrainer(vocab_size=300, special_tokens=spec["specials"],
                                                initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token=spec["eos"], pad_token=spec["eos"],
                                        additional_special_tokens=[t for t in spec["specials"] if t != spec["eos"]])
    tokenizer.chat_template = spec["template"]
    config = AutoConfig.for_model(family, vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64,
                                  num_hidden_layers=2, num_attention_heads=2, num_key_value_heads=2,
                                  max_position_embeddings=512, eos_token_id=tokenizer.eos_token_id,
                                  pad_token_id=tokenizer.pad_token_id)
    torch.manual_seed(0)
    AutoModelForCausalLM.from_config(config).save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


def build_tiny_model(path: Path) -> Path:
    """A 2-layer Llama with a byte-level BPE tokenizer trained on a few lines: seconds to build,
    real enough for every code path (chat template, special tokens, generation, saving)."""
    import torch
    from transformers import LlamaForCausalLM

    tokenizer = tiny_tokenizer()
    torch.manual_seed(0)
    LlamaForCausalLM(tiny_llama_config(tokenizer)).save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


# What every training recipe of the tests shares: CPU, fp32, no reporting, seeded, no checkpoint
# unless a test asks for one.
CPU_TRAINING = {"report_to": "none", "use_cpu": True, "bf16": False, "seed": 0, "save_steps": 100}


def tiny_recipe(model: Path, output_dir: Path, **overrides) -> dict:
    """A GRPO recipe that trains the tiny model for 2 steps in a few seconds."""
    recipe = {
        "stage": "grpo",
        "model_name_or_path": str(model),
        "dataset_name": "builtin:arithmetic",
        "max_train_samples": 16,
        "prompt_template": "chat",
        "rewards": ["accuracy", {"name": "format", "kwargs": {"template": "r1", "strict": False}}],
        "num_generations": 4,
        "per_device_train_batch_size": 4,
        "max_completion_length": 8,
        "learning_rate": 1e-3,
        "max_steps": 2,
        "logging_steps": 1,
        "output_dir": str(output_dir),
        "activation_checkpointing": False,
        **CPU_TRAINING,
    }
    recipe.update(overrides)
    return recipe


# A GRPO recipe whose model path does not exist: if validation ever got as far as loading a model,
# the error would be about this path instead of the field under test.
UNLOADABLE_GRPO = {
    "stage": "grpo",
    "model_name_or_path": "/nonexistent/model",
    "dataset_name": "builtin:arithmetic",
    "output_dir": "/tmp/trl-r1-test-recipe",
    "use_cpu": True,
    "bf16": False,
    "report_to": "none",
}


def load_unloadable(overrides=(), **values):
    """:data:`UNLOADABLE_GRPO` with ``values``, loaded (and so checked) with command-line ``overrides``."""
    from trl_r1.recipe import load_recipe

    return load_recipe(None, list(overrides), values={**UNLOADABLE_GRPO, **values})


def run_recipe(values: dict) -> dict:
    """Load a recipe from ``values`` and run its stage in this process; the stage's summary."""
    from trl_r1.recipe import load_recipe

    recipe = load_recipe(None, values=values)
    return recipe.stage.run(recipe)


def write_recipe(path: Path, recipe: dict) -> Path:
    path.write_text(yaml.safe_dump(recipe, sort_keys=False))
    return path


def run_cli(*args: str, timeout: float = 300, check: bool = True, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """``python -m trl_r1 ARGS`` in a real subprocess; output captured."""
    env = {**os.environ, "TOKENIZERS_PARALLELISM": "false", "HF_HUB_OFFLINE": "1"}
    result = subprocess.run(
        [sys.executable, "-m", "trl_r1", *args], capture_output=True, text=True, timeout=timeout, env=env,
        cwd=cwd or REPO,
    )
    if check and result.returncode != 0:
        raise AssertionError(f"exit {result.returncode}\nstdout:\n{result.stdout[-3000:]}\nstderr:\n{result.stderr[-5000:]}")
    return result


# --- a judge server: OpenAI's chat-completions protocol, answering YES/NO by a rule -------------

_SECTIONS = re.compile(r"Question:\n(.*?)\n\nReference answer:\n(.*?)\n\nFinal answer of the response:\n(.*?)\n\nIs ",
                       re.DOTALL)


def reference_in_answer(question: str, reference: str, answer: str) -> bool:
    return bool(reference) and reference.lower() in answer.lower()


class JudgeServer:
    """``POST /v1/chat/completions`` answering YES when ``rule(question, reference, answer)``;
    records every request; fails the next ``fail`` requests with 503."""

    def __init__(self, rule=reference_in_answer):
        self.rule, self.requests, self.fail = rule, [], 0
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _send(self, status: int, body: dict):
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):
                self._send(200, {"data": [{"id": "test-judge"}]} if self.path == "/v1/models" else {})

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                if self.path != "/v1/chat/completions":
                    return self._send(404, {"error": "not found"})
                server.requests.append({"body": body, "authorization": self.headers.get("Authorization")})
                if server.fail:
                    server.fail -= 1
                    return self._send(503, {"error": "busy"})
                question, reference, answer = _SECTIONS.search(body["messages"][-1]["content"]).groups()
                reply = "YES" if server.rule(question, reference, answer) else "NO"
                self._send(200, {"object": "chat.completion", "model": body["model"], "choices": [
                    {"index": 0, "message": {"role": "assistant", "content": reply}, "finish_reason": "stop"}]})

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()
