"""A completion under R1-Zero's template stops where its answer closes (`</answer>`)."""

from __future__ import annotations

import torch
from helpers import tiny_recipe

from trl_r1.recipe import load_recipe
from trl_r1.train.trainer import R1GRPOTrainer


def _trainer(tiny_model, tmp_path, **overrides):
    from datasets import Dataset
    from transformers import AutoTokenizer

    recipe = load_recipe(None, values=tiny_recipe(tiny_model, tmp_path / "out", prompt_template="zero",
                                                  rewards=["format"], **overrides))
    args = recipe.configs[1]
    tokenizer = AutoTokenizer.from_pretrained(tiny_model)
    return R1GRPOTrainer(model=str(tiny_model), args=args, processing_class=tokenizer,
                         train_dataset=Dataset.from_dict({"prompt": ["1 + 1"] * 4}))


def test_the_zero_template_stops_at_its_closing_tag_under_either_engine(tiny_model, tmp_path):
    vllm = load_recipe(None, values=tiny_recipe(tiny_model, tmp_path, prompt_template="zero", rewards=["format"],
                                                use_vllm=True)).configs[1]
    assert vllm.generation_kwargs == {"stop": ["</answer>"], "include_stop_str_in_output": True}
    plain = _trainer(tiny_model, tmp_path)
    assert plain.generation_config.stop_strings == ["</answer>"]
    off = load_recipe(None, values=tiny_recipe(tiny_model, tmp_path, prompt_template="zero", rewards=["format"],
                                               stop_at_template_end=False)).configs[1]
    chat = load_recipe(None, values=tiny_recipe(tiny_model, tmp_path, rewards=["format"])).configs[1]
    assert off.generation_kwargs is None and chat.generation_kwargs is None


def test_transformers_generation_finds_the_stop_string_and_cuts_the_completion_there(tiny_model, tmp_path):
    # TRL calls generate without the tokenizer transformers needs for stop strings (it raises
    # then); the trainer hands it over. A stop string the tiny random model does write: the text
    # of its own third greedy token.
    trainer = _trainer(tiny_model, tmp_path)
    tokenizer = trainer.processing_class
    ids = tokenizer("1 + 1 =", return_tensors="pt").input_ids
    config = trainer.generation_config
    config.do_sample, config.max_new_tokens, config.temperature, config.top_p, config.top_k = False, 12, None, None, None
    config.stop_strings = None
    free = trainer.model.generate(ids, generation_config=config)[0, ids.shape[1]:]
    stop = tokenizer.decode(free[2:3])
    assert stop.strip(), "the tiny model's third token decodes to text"
    config.stop_strings = [stop]
    with torch.no_grad():
        cut = trainer.model.generate(ids, generation_config=config)[0, ids.shape[1]:]
    assert len(cut) <= 3 and tokenizer.decode(cut).endswith(stop)
