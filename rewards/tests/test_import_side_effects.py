"""Importing trl_r1_rewards, and every module of it, changes no other package; neither does a
call of the accuracy reward or of cons@k grouping once it returns (rewards/trl_r1_rewards/shims.py).
Each check runs in a fresh interpreter, so that nothing another test imported hides a change."""

from __future__ import annotations

import json
import subprocess
import sys

SNAPSHOT = r'''
import importlib, json, logging, pkgutil, sys, types

# What the rewards import, imported first: a library's own import-time setup is not ours.
import antlr4, langdetect, latex2sympy2_extended.latex2sympy2, math_verify, numpy, sympy  # noqa: F401


def loggers():
    """Every logger's level, filters, handlers, propagation and disabled flag."""
    found = {"<root>": logging.getLogger()}
    found.update((name, logger) for name, logger in logging.Logger.manager.loggerDict.items()
                 if isinstance(logger, logging.Logger))
    return {name: [logger.level, [repr(f) for f in logger.filters], [repr(h) for h in logger.handlers],
                   logger.propagate, logger.disabled] for name, logger in found.items()}


def library_attributes():
    """The id of every module global and class attribute of every loaded module but ours
    (submodules aside: importing one sets it on its parent)."""
    found = {}
    for name, module in list(sys.modules.items()):
        if name.startswith("trl_r1_rewards") or not isinstance(module, types.ModuleType):
            continue
        for key, value in list(vars(module).items()):
            if isinstance(value, types.ModuleType):
                continue
            found[f"{name}.{key}"] = id(value)
            if isinstance(value, type) and value.__module__ == name:
                found.update((f"{name}.{key}.{k}", id(v)) for k, v in list(vars(value).items()))
    return found


def state():
    from latex2sympy2_extended.latex2sympy2 import _Latex2Sympy

    return {"create_parser": id(_Latex2Sympy.__dict__["create_parser"]), "loggers": loggers()}


before, before_attributes = state(), library_attributes()
import trl_r1_rewards
for module in pkgutil.walk_packages(trl_r1_rewards.__path__, "trl_r1_rewards."):
    importlib.import_module(module.name)
imported = state()
changed = sorted(k for k, v in library_attributes().items() if k in before_attributes and before_attributes[k] != v)

from trl_r1_rewards import load_reward
from trl_r1_rewards.voting import equivalence_groups

accuracy = load_reward("accuracy", num_workers=0)  # in this process: its calls are this process's
rewards = accuracy(prompts=["?"] * 3, completions=[r"</think> \boxed{\sqrt{12}}", r"</think> \boxed{1}, \boxed{-2}", "</think> x"],
                   solution=[r"2\sqrt3", "-2, 1", r"\frac12"])
groups = equivalence_groups([r"\frac12", "0.5", "x^2"])
called = state()
print(json.dumps({"before": before, "imported": imported, "called": called, "changed": changed,
                  "rewards": rewards, "groups": groups, "modules": sorted(m for m in sys.modules if m.startswith("trl_r1_rewards"))}))
'''


def test_importing_every_module_and_calling_the_rewards_leaves_other_packages_as_they_were():
    run = subprocess.run([sys.executable, "-c", SNAPSHOT], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    seen = json.loads(run.stdout)
    assert seen["rewards"] == [1.0, 1.0, 0.0] and seen["groups"] == [0, 0, 1]  # the calls did run
    assert {"trl_r1_rewards.accuracy", "trl_r1_rewards.classifier", "trl_r1_rewards.shims"} <= set(seen["modules"])
    assert seen["changed"] == []  # no library's function, class attribute or global replaced by an import
    assert seen["imported"]["create_parser"] == seen["before"]["create_parser"]
    assert seen["called"]["create_parser"] == seen["before"]["create_parser"]
    for when in ("imported", "called"):
        for name, state in seen["before"]["loggers"].items():
            assert seen[when]["loggers"][name] == state, (when, name)
        for name in set(seen[when]["loggers"]) - set(seen["before"]["loggers"]):  # loggers created since
            if not name.startswith("trl_r1_rewards"):
                assert seen[when]["loggers"][name] == [0, [], [], True, False], (when, name)
    assert "Timeout is disabled" not in run.stderr  # math-verify warns on the first call without its timeout: filtered
