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

    class LLM:  # vLLM's signature for what the backend passes (the rest goes to its engine arguments)
        def __init__(self, model, *, tensor_parallel_size=1, dtype="auto", max_model_len=None):
            calls.append(("init", model, {"dtype": dtype, "max_model_len": max_model_len,
                                          "tensor_parallel_size": tensor_parallel_size}))

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
    assert isinstance(backend, VLLMBackend)
    assert fake_vllm.calls[0] == ("init", "some/model", {"dtype": "bfloat16", "max_model_len": None, "tensor_parallel_size": 1})
    out = backend.generate(["p0", "p1"], SAMPLING)
    assert out == [[Completion(f"{i}.{j}", j + 1) for j in range(3)] for i in range(2)]
    method, prompts, params, use_tqdm = fake_vllm.calls[1]
    assert (method, prompts, use_tqdm) == ("generate", ["p0", "p1"], False)
    assert params == {"n": 3, "temperature": 0.6, "top_p": 0.95, "max_tokens": 8, "seed": 0}
    chat = [[{"role": "user", "content": "hi"}]]
    assert backend.generate(chat, SAMPLING) == [[Completion(f"0.{j}", j + 1) for j in range(3)]]
    assert fake_vllm.calls[2][0] == "chat" and fake_vllm.calls[2][1] == chat


@pytest.mark.parametrize("stage", ["evaluate", "sample"])
def test_evaluate_and_sample_give_vllm_the_context_length_and_the_gpus_to_split_over(fake_vllm, stage, tmp_path):
    """A 70B model loads in vLLM only split over GPUs, and a model declaring 128k tokens of context
    only with a shorter max_model_len; both reach vLLM from the recipe."""
    from helpers import run_recipe

    data = tmp_path / "q.jsonl"
    data.write_text('{"problem": "What is 1 + 1?", "solution": "2", "answer": "2"}\n')
    values = {"stage": stage, "model_name_or_path": "org/some-70b", "dataset_name": str(data), "backend": "vllm",
              "num_samples": 2, "max_new_tokens": 8, "max_model_len": 1024, "tensor_parallel_size": 8,
              "output_dir": str(tmp_path / "out")}
    if stage == "sample":
        values.update(dataset_split="train", require_reasoning=False, language_threshold=None)
    run_recipe(values)
    assert fake_vllm.calls[0] == ("init", "org/some-70b", {"dtype": "auto", "max_model_len": 1024, "tensor_parallel_size": 8})


def test_context_length_must_hold_prompt_and_completion():
    from trl_r1.recipe import RecipeError, load_recipe

    values = {"stage": "evaluate", "model_name_or_path": "m", "dataset_name": "org/bench", "max_new_tokens": 32768}
    with pytest.raises(RecipeError, match="max_model_len: 32768 leaves no room for the prompt"):
        load_recipe(None, ["--max_model_len", "32768"], values=values)
    with pytest.raises(RecipeError, match="tensor_parallel_size: must be >= 1"):
        load_recipe(None, ["--tensor_parallel_size", "0"], values=values)


def test_transformers_backend_has_the_same_shape(tiny_model):
    out = make_backend("transformers", str(tiny_model)).generate(["What is 1 + 1?", "Hi"], SAMPLING)
    assert [len(group) for group in out] == [3, 3]
    assert all(isinstance(c, Completion) and isinstance(c.text, str) and 1 <= c.num_tokens <= 8 for g in out for c in g)
    assert isinstance(make_backend("auto", str(tiny_model)), TransformersBackend)  # no GPU here: auto is transformers


def _generated(backend, prompts: list[str], n: int, **decoding) -> list[str]:
    """``generate`` itself on the left-padded prompts, ``n`` sequences each, decoded as the backend does."""
    import torch

    inputs = backend.tokenizer(prompts, return_tensors="pt", padding=True, add_special_tokens=False)
    with torch.no_grad():
        output = backend.model.generate(**inputs, **decoding, num_return_sequences=n,
                                        pad_token_id=backend.tokenizer.pad_token_id)
    return [backend.tokenizer.decode([t for t in row if t != backend.tokenizer.pad_token_id], skip_special_tokens=True)
            for row in output[:, inputs["input_ids"].shape[1]:].tolist()]


PROMPTS = [f"Answer in one line. Question: {q}" for q in ("What is 1 + 1?", "Hi", "Write a long sentence about the fox.")]


@pytest.mark.parametrize("fast", [True, False])
@pytest.mark.parametrize("n", [1, 3])
def test_greedy_completions_are_generates_on_both_paths_and_each_prompt_is_decoded_once(tiny_model, n, fast):
    """Prompts of different lengths (left-padded), temperature 0: ``generate``'s greedy tokens on
    the fast path and on ``generate`` alone, decoded once per prompt and given ``n`` times (vLLM's
    temperature 0 gives n equal samples)."""
    backend = TransformersBackend(str(tiny_model), "float32")
    backend.fast = fast
    expected = _generated(backend, PROMPTS, 1, do_sample=False, max_new_tokens=8)
    rows = []
    backend.model.register_forward_pre_hook(lambda module, args, kwargs: rows.append(
        (kwargs.get("input_ids", args[0] if args else None)).shape[0]), with_kwargs=True)
    got = backend.generate(PROMPTS, Sampling(num_samples=n, temperature=0.0, max_new_tokens=8))
    assert [[c.text for c in group] for group in got] == [[text] * n for text in expected]
    assert max(rows) == len(PROMPTS)


def test_without_the_fast_path_sampling_is_generates_temperature_and_top_p_without_its_default_top_k(tiny_model):
    """``generate`` alone samples as ``generate(do_sample=True, top_k=0, temperature, top_p)``, seed
    for seed: temperature and top-p as vLLM and the paper sample, with no top-k of 50 (the fast
    path's sampler draws from the same distribution: the nucleus test below)."""
    import torch

    backend = TransformersBackend(str(tiny_model), "float32")
    backend.fast = False
    sampling = Sampling(num_samples=3, temperature=0.6, top_p=0.95, max_new_tokens=8, seed=5)
    got = [c.text for group in backend.generate(PROMPTS, sampling) for c in group]
    torch.manual_seed(5)
    assert got == _generated(backend, PROMPTS, 3, do_sample=True, top_k=0, temperature=0.6, top_p=0.95,
                             max_new_tokens=8)
    torch.manual_seed(5)
    assert got != _generated(backend, PROMPTS, 3, do_sample=True, temperature=0.6, top_p=0.95, max_new_tokens=8)


@pytest.mark.parametrize("n", [1, 3])
def test_each_prompt_token_is_read_once_and_the_tokens_are_those_of_generate_alone(tiny_model, n):
    """Prompts sharing a prefix (as a system prompt and demonstrations make them), of different
    lengths, decoded greedily (``n`` times each): the same tokens as ``generate`` reading each
    left-padded prompt whole, with the shared prefix read once, then each prompt's rest once."""
    import torch

    backend = TransformersBackend(str(tiny_model), "float32")
    shared = "Answer in one line, and check the answer twice. Question: "
    prompts = [shared + q for q in ("What is 1 + 1?", "Hi", "Write a long sentence about the quick brown fox.")]
    sampling = Sampling(num_samples=n, temperature=0.0, max_new_tokens=8)
    inputs = backend.tokenizer(prompts, return_tensors="pt", padding=True, add_special_tokens=False)
    expected = backend.model.generate(**inputs, do_sample=False, max_new_tokens=8,
                                      pad_token_id=backend.tokenizer.pad_token_id).repeat_interleave(n, 0)
    width = inputs["input_ids"].shape[1]
    expected = [backend.tokenizer.decode([t for t in row if t != backend.tokenizer.pad_token_id], skip_special_tokens=True)
                for row in expected[:, width:].tolist()]
    read = []
    backend.model.register_forward_pre_hook(lambda module, args, kwargs: read.append(
        (kwargs.get("input_ids", args[0] if args else None)).shape), with_kwargs=True)
    got = backend.generate(prompts, sampling)
    assert [c.text for group in got for c in group] == expected
    prefix = len(backend.tokenizer(shared, add_special_tokens=False)["input_ids"])
    assert read[0][0] == 1 and read[0][1] >= prefix - 1  # the shared prefix, once
    assert read[1] == (3, width - 1 - read[0][1])  # each prompt's rest (but its last token), once
    assert all(shape == (3, 1) for shape in read[2:])  # then one token at a time (greedy: once for the n samples)
    # the next-token logits after the prefilled cache are those of reading each left-padded prompt whole
    with torch.no_grad():
        positions = (inputs["attention_mask"].cumsum(-1) - 1).clamp(min=0)  # as generate numbers them
        whole = backend.model(**inputs, position_ids=positions).logits[:, -1]
        prefilled = backend._prefilled([backend._text(p) for p in prompts], 1)
        ids, mask = prefilled["input_ids"], prefilled["attention_mask"]
        cache = next(v for k, v in prefilled.items() if k not in ("input_ids", "attention_mask"))
        last = backend.model(ids[:, -1:], mask, (mask.sum(-1, keepdim=True) - 1), cache).logits[:, -1]
    torch.testing.assert_close(last, whole, rtol=1e-4, atol=1e-4)


def test_nucleus_sampling_keeps_the_distribution_of_temperature_and_top_p_without_top_k():
    """The sampler's nucleus and probabilities are those of transformers' temperature and top-p
    warpers, for peaked rows (nucleus among the candidates) and a flat one (nucleus past them)."""
    import torch
    from transformers import TemperatureLogitsWarper, TopPLogitsWarper

    from trl_r1.generation.backends import NucleusSampler

    torch.manual_seed(0)
    scores = torch.randn(5, 2000) * torch.tensor([[8.0], [4.0], [2.0], [1.0], [0.01]])
    sampler = NucleusSampler(temperature=0.6, top_p=0.95, candidates=32)
    ids, p = sampler.nucleus(scores)
    ours = torch.zeros_like(scores).scatter_(-1, ids, p)
    theirs = TopPLogitsWarper(0.95)(None, TemperatureLogitsWarper(0.6)(None, scores.clone())).softmax(-1)
    torch.testing.assert_close(ours, theirs, rtol=1e-4, atol=1e-6)
    assert (theirs[-1] > 0).sum() > 32 and (theirs[0] > 0).sum() < 32  # both paths were taken
    # draws follow it: 20,000 tokens from one row
    row = torch.tensor([[2.0, 1.5, 1.0, 0.0, -1.0, -9.0]])
    ids, p = NucleusSampler(temperature=1.0, top_p=0.9).nucleus(row)
    expected = torch.zeros(6).scatter_(-1, ids[0], p[0])
    draws = torch.cat([NucleusSampler(1.0, 0.9)(None, row.expand(1000, -1)).argmax(-1) for _ in range(20)])
    frequencies = torch.bincount(draws, minlength=6) / len(draws)
    assert (frequencies - expected).abs().max() < 0.015 and frequencies[4:].sum() == 0


def test_outside_the_transformers_versions_it_was_written_for_the_fast_path_gives_way_to_generate(
        tiny_model, monkeypatch, capsys):
    import importlib.metadata

    real = importlib.metadata.version
    backend = TransformersBackend(str(tiny_model), "float32")
    sampling = Sampling(num_samples=2, temperature=0.6, max_new_tokens=6, seed=1)
    backend.fast = False
    plain = backend.generate(PROMPTS, sampling)
    backend.fast = True
    monkeypatch.setattr(importlib.metadata, "version", lambda name: "9.0.0" if name == "transformers" else real(name))
    assert backend.generate(PROMPTS, sampling) == plain and backend.fast is False
    out = capsys.readouterr().out
    assert "written for transformers>=5.19,<5.26, found transformers 9.0.0" in out
    assert "Generating with `generate` alone" in out


@pytest.mark.parametrize("has_bf16", [True, False])
def test_bf16_generation_on_a_cpu_falls_back_to_fp32_where_the_cpu_has_no_bf16(tiny_model, monkeypatch, capsys, has_bf16):
    import torch

    from trl_r1.train import config

    monkeypatch.setattr(config, "cpu_has_bf16", lambda: has_bf16)
    backend = TransformersBackend(str(tiny_model), "bfloat16")
    assert backend.model.dtype == (torch.bfloat16 if has_bf16 else torch.float32)
    assert ("generating in float32" in capsys.readouterr().out) is not has_bf16
    assert len(backend.generate(["What is 1 + 1?"], SAMPLING)[0]) == 3


def test_vllm_backend_without_vllm_says_how_to_install(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "vllm" else real(name, *a))  # not installed
    with pytest.raises(ModuleNotFoundError, match=r"pip install -e '\.\[vllm\]'"):
        make_backend("vllm", "some/model")


def test_a_backend_on_a_model_in_memory_samples_as_one_that_loads_it(tiny_model):
    """`TransformersBackend.for_model` (the policy being trained) gives the same completions as the
    backend that loads the same weights, and leaves the tokenizer it is given unchanged."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    loaded = TransformersBackend(str(tiny_model), dtype="float32")
    tokenizer = AutoTokenizer.from_pretrained(tiny_model, padding_side="right")  # as a trainer's may pad
    tokenizer.pad_token = None
    live = TransformersBackend.for_model(AutoModelForCausalLM.from_pretrained(tiny_model).eval(), tokenizer)
    sampling = Sampling(num_samples=2, temperature=0.6, max_new_tokens=5, seed=3)
    prompts = ["What is 1 + 1?", [{"role": "user", "content": "2 + 2?"}]]
    assert live.generate(prompts, sampling) == loaded.generate(prompts, sampling)
    assert tokenizer.pad_token is None and live.tokenizer.pad_token == tokenizer.eos_token
