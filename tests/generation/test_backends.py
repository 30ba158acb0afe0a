"""The generation backends' one interface: vLLM (a stand-in module, since CI has neither vLLM nor
a GPU) and transformers return the same shape, n completions per prompt."""

from __future__ import annotations

import importlib.machinery
import importlib.util
import sys
import types

import pytest

from trl_r1.generation.backends import (
    Completion,
    Sampling,
    TransformersBackend,
    VLLMBackend,
    make_backend,
)

SAMPLING = Sampling(num_samples=3, temperature=0.6, top_p=0.95, max_new_tokens=8, seed=0)


@pytest.fixture
def fake_vllm(monkeypatch):
    """A ``vllm`` module whose ``LLM`` records its calls and answers ``n`` numbered outputs."""
    module = types.ModuleType("vllm")
    module.__spec__ = importlib.machinery.ModuleSpec("vllm", None)
    calls = []

    class SamplingParams:
        def __init__(self, **kwargs):
            self.kwargs = kwargs

    class LLM:
        def __init__(self, model, dtype):
            calls.append(("init", model, dtype))

        def _answer(self, method, prompts, params, use_tqdm):
            calls.append((method, prompts, params.kwargs, use_tqdm))
            n = params.kwargs["n"]
            return [types.SimpleNamespace(outputs=[types.SimpleNamespace(text=f"{i}.{j}", token_ids=[0] * (j + 1))
                                                   for j in range(n)]) for i in range(len(prompts))]

        def generate(self, prompts, params, use_tqdm=True):
            return self._answer("generate", prompts, params, use_tqdm)

        def chat(self, prompts, params, use_tqdm=True):
            return self._answer("chat", prompts, params, use_tqdm)

    module.LLM, module.SamplingParams, module.calls = LLM, SamplingParams, calls
    monkeypatch.setitem(sys.modules, "vllm", module)
    return module


def test_vllm_backend_text_and_chat_prompts(fake_vllm):
    backend = make_backend("vllm", "some/model", "bfloat16")
    assert isinstance(backend, VLLMBackend) and fake_vllm.calls[0] == ("init", "some/model", "bfloat16")
    out = backend.generate(["p0", "p1"], SAMPLING)
    assert out == [[Completion(f"{i}.{j}", j + 1) for j in range(3)] for i in range(2)]
    method, prompts, params, use_tqdm = fake_vllm.calls[1]
    assert (method, prompts, use_tqdm) == ("generate", ["p0", "p1"], False)
    assert params == {"n": 3, "temperature": 0.6, "top_p": 0.95, "max_tokens": 8, "seed": 0}
    chat = [[{"role": "user", "content": "hi"}]]
    assert backend.generate(chat, SAMPLING) == [[Completion(f"0.{j}", j + 1) for j in range(3)]]
    assert fake_vllm.calls[2][0] == "chat" and fake_vllm.calls[2][1] == chat


def test_transformers_backend_has_the_same_shape(tiny_model):
    out = make_backend("transformers", str(tiny_model)).generate(["What is 1 + 1?", "Hi"], SAMPLING)
    assert [len(group) for group in out] == [3, 3]
    assert all(isinstance(c, Completion) and isinstance(c.text, str) and 1 <= c.num_tokens <= 8 for g in out for c in g)
    assert isinstance(make_backend("auto", str(tiny_model)), TransformersBackend)  # no GPU here: auto is transformers


def test_vllm_backend_without_vllm_says_how_to_install(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "vllm" else real(name, *a))  # not installed
    with pytest.raises(ModuleNotFoundError, match=r"pip install -e '\.\[vllm\]'"):
        make_backend("vllm", "some/model")
