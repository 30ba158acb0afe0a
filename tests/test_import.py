"""Importing trl_r1 defines names and changes nothing else, even in a process a rehearsal launched
(``$TRL_R1_REHEARSAL``, ``$TRL_R1_RECORD_HUB`` set): the Hub client, the dataset upload and the
stages' run functions stay what they were. Runs in a fresh interpreter, so that nothing another
test imported hides a change."""

from __future__ import annotations

import json
import os
import subprocess
import sys

SNAPSHOT = r'''
import json, sys, types

# What trl_r1 imports, imported first: a library's own import-time setup is not ours.
import accelerate, datasets, huggingface_hub, torch, transformers, trl  # noqa: F401


# The libraries whose classes a rehearsal once replaced at import, and those trl_r1 builds on
# (torch and transformers are left out: their lazy loading rewrites their own globals on first use).
LIBRARIES = ("huggingface_hub", "datasets", "accelerate", "trl")


def library_attributes():
    """The id of every module global and class attribute of every loaded module of LIBRARIES
    (submodules aside: importing one sets it on its parent)."""
    found = {}
    for name, module in list(sys.modules.items()):
        if name.split(".")[0] not in LIBRARIES or not isinstance(module, types.ModuleType):
            continue
        for key, value in list(vars(module).items()):
            if isinstance(value, types.ModuleType):
                continue
            found[f"{name}.{key}"] = id(value)
            if isinstance(value, type) and value.__module__ == name:
                found.update((f"{name}.{key}.{k}", id(v)) for k, v in list(vars(value).items()))
    return found


before = library_attributes()
hub_client, dataset_push = huggingface_hub.HfApi, datasets.Dataset.push_to_hub
import trl_r1, trl_r1.run_stage, trl_r1.rehearse.record, trl_r1.train.hub  # noqa: E401,F401
from trl_r1.stages import STAGES, Stage, get_stage

runs = {name: [get_stage(name).module.run.__module__, get_stage(name).module.run.__qualname__] for name in STAGES}
changed = sorted(k for k, v in library_attributes().items() if k in before and before[k] != v)
print(json.dumps({"changed": changed, "runs": runs, "stage_run": [Stage.run.__module__, Stage.run.__qualname__],
                  "hub_client": huggingface_hub.HfApi is hub_client,
                  "dataset_push": datasets.Dataset.push_to_hub is dataset_push}))
'''


def test_importing_trl_r1_in_a_rehearsal_process_leaves_the_hub_datasets_and_the_stages_as_they_were(tmp_path):
    env = {**os.environ, "TRL_R1_REHEARSAL": str(tmp_path), "TRL_R1_RECORD_HUB": str(tmp_path), "HF_HUB_OFFLINE": "1"}
    run = subprocess.run([sys.executable, "-c", SNAPSHOT], capture_output=True, text=True, timeout=300, env=env)
    assert run.returncode == 0, run.stderr
    seen = json.loads(run.stdout.splitlines()[-1])
    assert seen["hub_client"] and seen["dataset_push"]
    assert seen["stage_run"] == ["trl_r1.stages", "Stage.run"]
    assert seen["runs"] == {name: [f"trl_r1.stages.{name}", "run"] for name in seen["runs"]}
    assert seen["changed"] == []  # no library's function, class attribute or global replaced by an import
    assert not list(tmp_path.iterdir())  # and nothing written
