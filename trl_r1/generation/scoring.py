"""The scorer: a registry reward that decides whether a sampled answer is correct (>= 1).

The evaluate and sample stages both score with one reward from the registry, reading the gold
answer from the recipe's ``answer_column``.
"""

from __future__ import annotations

from trl_r1_rewards import check_options, gold_option, load_reward, reward_factory

from ..data.templates import with_prefill


def scorer_options(scorer: str, scorer_kwargs: dict, answer_column: str) -> dict:
    """The scorer's options, with the gold column under the option the scorer names for it
    (its ``gold_option``), unless set already.

    >>> scorer_options("accuracy", {}, "answer")
    {'solution_column': 'answer'}
    >>> scorer_options("accuracy", {"solution_column": "gold"}, "answer")
    {'solution_column': 'gold'}
    """
    options = dict(scorer_kwargs)
    try:
        option = gold_option(reward_factory(scorer))
    except KeyError:
        return options  # unknown scorer: check_scorer names it
    if option:
        options.setdefault(option, answer_column)
    return options


def reads_gold(scorer: str) -> bool:
    """Whether the scorer reads a gold answer (``code`` reads test cases instead)."""
    return gold_option(reward_factory(scorer)) is not None


def check_scorer(scorer: str, scorer_kwargs: dict, answer_column: str) -> None:
    """Fail early, naming the field, on an unknown scorer or option (loads nothing)."""
    if not isinstance(scorer_kwargs, dict):
        raise ValueError(f"scorer_kwargs: a mapping of the scorer's options, got {scorer_kwargs!r}")
    try:
        check_options(scorer, scorer_options(scorer, scorer_kwargs, answer_column))
    except (KeyError, TypeError) as e:
        raise ValueError(f"scorer: {e}") from None


def load_scorer(scorer: str, scorer_kwargs: dict, answer_column: str, think_prefilled: bool = False):
    """The scorer reward, ready to call as TRL would (``think_prefilled``: the prompts end inside an
    opened ``<think>``, see ``trl_r1.data.templates.with_prefill``)."""
    return load_reward(scorer, **with_prefill(scorer, scorer_options(scorer, scorer_kwargs, answer_column),
                                              think_prefilled))
