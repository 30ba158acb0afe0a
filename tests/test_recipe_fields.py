"""Each recipe value is checked against its field's annotation (pydantic), strictly, with the field,
the type it takes and the recipe file named; command-line values are strings read as their fields' types."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

import pytest
import yaml
from helpers import UNLOADABLE_GRPO, load_unloadable

from trl_r1.recipe import (
    RecipeError,
    check_field,
    command_line_values,
    load_recipe,
    recipe_help,
)
from trl_r1.stages import get_stage


def test_a_float_for_an_int_field_is_refused_naming_the_field_the_type_and_the_file(tmp_path):
    recipe = tmp_path / "r.yaml"
    recipe.write_text(yaml.safe_dump({**UNLOADABLE_GRPO, "max_steps": 10.0}))
    with pytest.raises(RecipeError, match=rf"^{recipe}: `max_steps` must be int, got 10.0 \(float\)"):
        load_recipe(recipe)
    with pytest.raises(RecipeError, match=r"`num_generations` must be int \| None, got True"):  # a bool is not an int either
        load_unloadable(num_generations=True)
    assert load_unloadable(learning_rate=1).configs[1].learning_rate == 1.0  # an int is a float


def test_a_wrong_list_element_is_refused_naming_the_field_and_the_element():
    with pytest.raises(RecipeError, match=r"`reflection_words` must be list\[str\], got \['wait', 3\] \(list\): \[1\]"):
        load_unloadable(reflection_words=["wait", 3])
    with pytest.raises(RecipeError, match=r"`rewards` must be list\[str \| dict\[str, Any\]\].*\[1\]"):
        load_unloadable(rewards=["accuracy", 3])
    with pytest.raises(RecipeError, match=r"`reward_weights` must be list\[float\] \| None"):
        load_unloadable(reward_weights=[1.0, "heavy"])


def test_command_line_strings_become_the_fields_types():
    script_args, args, _ = load_unloadable(["--max_steps", "7", "--learning_rate", "3e-6", "--drop_zero_advantage_batches", "true",
                                 "--no_auto_resume", "--stop_at_template_end", "--reflection_words", "wait", "hmm",
                                 "--reward_weights", "1", "0.5", "--max-train-samples=12"]).configs
    assert args.max_steps == 7 and type(args.max_steps) is int
    assert args.learning_rate == 3e-6 and args.drop_zero_advantage_batches is True
    assert args.auto_resume is False and args.stop_at_template_end is True
    assert args.reflection_words == ["wait", "hmm"] and args.reward_weights == [1.0, 0.5]
    assert script_args.max_train_samples == 12
    with pytest.raises(RecipeError, match=r"command line: `max_steps` must be int, got '7.5'"):
        load_unloadable(["--max_steps", "7.5"])
    with pytest.raises(RecipeError, match=r"`--max_steps` takes one value"):
        load_unloadable(["--max_steps", "7", "8"])
    with pytest.raises(RecipeError, match=r"unknown command-line argument `--max_stpes`. Did you mean `max_steps`"):
        load_unloadable(["--max_stpes", "7"])
    assert load_unloadable(["--max_step", "7"]).configs[1].max_steps == 7  # a unique prefix, as argparse takes it


def test_a_list_field_that_also_takes_a_string_keeps_one_value_a_string():
    assert command_line_values(["--report_to", "none"], {"report_to": None | str | list[str]}) == {"report_to": "none"}
    assert command_line_values(["--report_to", "a", "b"], {"report_to": None | str | list[str]}) == {"report_to": ["a", "b"]}
    assert command_line_values(["--tasks", "a"], {"tasks": list[str] | None}) == {"tasks": ["a"]}


def test_optional_fields_accept_null_and_the_others_refuse_it():
    script_args, args, _ = load_unloadable(max_train_samples=None, questions_per_step=None, group_filter_reward=None).configs
    assert script_args.max_train_samples is None and args.questions_per_step is None
    with pytest.raises(RecipeError, match="`max_steps` must be int, got None"):
        load_unloadable(max_steps=None)


def test_a_transformers_enum_or_string_field_takes_the_enums_values():
    """`lr_scheduler_type: SchedulerType | str`: transformers turns the string into the enum later, so a
    misspelling is refused here, with the values it could be."""
    with pytest.raises(RecipeError, match=r"`lr_scheduler_type` must be one of 'linear', 'cosine'.*got 'cosin'"):
        load_unloadable(lr_scheduler_type="cosin")
    args = load_unloadable(lr_scheduler_type="cosine", save_strategy="steps").configs[1]
    assert args.lr_scheduler_type == "cosine" and args.save_strategy == "steps"


def test_a_type_pydantic_cannot_check_is_left_to_the_dataclass():
    class Opaque:
        pass

    value = object()
    assert check_field("r.yaml", "thing", value, Opaque) is value


def test_a_pure_enum_field_takes_its_values_and_json_text_fills_a_mapping():
    class Colour(enum.Enum):
        RED = "red"

    assert check_field("r.yaml", "colour", "red", Colour) is Colour.RED
    with pytest.raises(RecipeError, match="`colour`"):
        check_field("r.yaml", "colour", "blue", Colour)
    assert check_field("r.yaml", "scorer_kwargs", '{"timeout": 2}', dict) == {"timeout": 2}


def test_a_field_of_several_of_the_stages_dataclasses_gets_the_value_in_each():
    @dataclass
    class A:
        seed: int = 0

    @dataclass
    class B:
        seed: int = 1
        names: list[str] = field(default_factory=list)

    from trl_r1.recipe import _build

    assert (_build(A, {"seed": 5}).seed, _build(B, {"seed": 5}).seed) == (5, 5)


def test_help_lists_every_field_with_its_true_type():
    text = recipe_help(get_stage("grpo"), prog="python -m trl_r1 recipes/zero.yaml")
    assert "--rewards  list[str | dict[str, Any]]; default ['accuracy', 'format']" in text
    assert "--lr_scheduler_type  one of 'linear', 'cosine'" in text
