"""Find rewards by name through the ``trl_r1.rewards`` entry-point group.

Every reward, the ones this package ships included, is an entry point in that group whose
object is a *factory*: called with the reward's keyword options it returns a TRL reward
callable ``reward(prompts, completions, **columns) -> list[float | None]``. A third-party
distribution adds a reward by declaring one more entry point; nothing here changes.
"""

from __future__ import annotations

import difflib
import inspect
from collections.abc import Callable
from importlib.metadata import EntryPoint, entry_points

GROUP = "trl_r1.rewards"


class RewardNotFoundError(KeyError, ValueError):
    """No entry point in ``trl_r1.rewards`` carries the requested name."""

    def __str__(self) -> str:  # KeyError would repr() the message
        return str(self.args[0])


class RewardConflictError(RuntimeError):
    """Two distributions register the same reward name."""


def _distribution_name(ep: EntryPoint) -> str:
    dist = getattr(ep, "dist", None)
    return dist.name if dist is not None else "<unknown distribution>"


def _entry_points() -> dict[str, EntryPoint]:
    found: dict[str, EntryPoint] = {}
    for ep in entry_points(group=GROUP):
        previous = found.get(ep.name)
        if previous is None:
            found[ep.name] = ep
        elif previous.value != ep.value or _distribution_name(previous) != _distribution_name(ep):
            raise RewardConflictError(
                f"Reward {ep.name!r} is registered twice in the {GROUP!r} entry-point group: by "
                f"{_distribution_name(previous)} ({previous.value}) and by {_distribution_name(ep)} "
                f"({ep.value}). Uninstall one of the two distributions."
            )
        # else: the same distribution seen twice on sys.path (e.g. editable + build dir): harmless.
    return found


def available_rewards() -> list[str]:
    """The names ``load_reward`` accepts, sorted.

    >>> {"accuracy", "format", "language_consistency"} <= set(available_rewards())
    True
    """
    return sorted(_entry_points())


def reward_factory(name: str) -> Callable[..., Callable]:
    """The factory registered under ``name`` (not yet called)."""
    eps = _entry_points()
    if name not in eps:
        close = difflib.get_close_matches(name, eps, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise RewardNotFoundError(
            f"Unknown reward {name!r}.{hint} Available rewards: {', '.join(sorted(eps)) or '(none)'}. "
            f"Third-party rewards register in the {GROUP!r} entry-point group."
        )
    return eps[name].load()


def accepted_parameters(factory: Callable) -> dict[str, inspect.Parameter]:
    """The keyword options a factory takes (``**kwargs`` excluded)."""
    params = inspect.signature(factory).parameters
    return {
        n: p
        for n, p in params.items()
        if p.kind in (inspect.Parameter.KEYWORD_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    }


def check_options(name: str, options: dict) -> Callable[..., Callable]:
    """The factory for ``name`` after checking that it accepts every key of ``options``.

    Loads no model and builds nothing: recipes call it to fail early on a typo.
    """
    factory = reward_factory(name)
    signature = inspect.signature(factory)
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in signature.parameters.values()):
        return factory
    params = accepted_parameters(factory)
    unknown = sorted(set(options) - set(params))
    if unknown:
        accepted = ", ".join(f"{n}={p.default!r}" if p.default is not p.empty else n for n, p in params.items())
        raise TypeError(
            f"Reward {name!r} got unknown option(s) {', '.join(map(repr, unknown))}. "
            f"Accepted options: {accepted or '(none)'}."
        )
    return factory


def load_reward(name: str, **kwargs) -> Callable:
    """Build the reward registered as ``name`` with its options; ready for ``GRPOTrainer``.

    Unknown names and unknown options fail here, at load time, with the list of what is
    accepted. The returned callable's ``__name__`` is ``name``, so TRL logs it as
    ``rewards/<name>/mean``.

    >>> reward = load_reward("format", template="zero")
    >>> reward(prompts=["q"], completions=["<think>a</think><answer>4</answer>"])
    [1.0]
    """
    reward = check_options(name, kwargs)(**kwargs)
    if not callable(reward):
        raise TypeError(f"The factory registered as reward {name!r} returned {type(reward).__name__}, not a callable.")
    try:
        reward.__name__ = name
    except (AttributeError, TypeError):  # e.g. a builtin; TRL falls back to the class name
        pass
    return reward
