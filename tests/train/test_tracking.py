"""`report_to: [trackio]`: the local tracker that needs no account records a real run's metrics,
ours (rewards, reflection words) included, in a local database a dashboard reads."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from helpers import run_cli, tiny_recipe, write_recipe

pytest.importorskip("trackio")


@pytest.mark.slow  # a real `python -m trl_r1` run: ~45 s here
def test_a_grpo_run_reports_its_metrics_to_a_local_trackio_database(tiny_model, tmp_path):
    store = tmp_path / "trackio"
    recipe = write_recipe(tmp_path / "r.yaml", tiny_recipe(tiny_model, tmp_path / "out", report_to=["trackio"],
                                                           project="trl-r1-test"))
    os.environ["TRACKIO_DIR"] = str(store)  # run_cli's subprocess inherits it; trackio reads it at import
    try:
        run_cli(str(recipe))
    finally:
        del os.environ["TRACKIO_DIR"]
    read = ("from trackio.sqlite_storage import SQLiteStorage as S; import json; (run,) = S.get_runs('trl-r1-test'); "
            "print(json.dumps(S.get_logs('trl-r1-test', run), default=str))")
    logs = json.loads(subprocess.run([sys.executable, "-c", read], env={**os.environ, "TRACKIO_DIR": str(store)},
                                     capture_output=True, text=True, check=True).stdout)
    rewards = [row["train/reward"] for row in logs if "train/reward" in row]
    ours = [json.loads(line) for line in (tmp_path / "out" / "metrics.jsonl").read_text().splitlines()]
    assert rewards == [row["reward"] for row in ours if "reward" in row] and len(rewards) == 2
    assert any("train/reflection/rate_per_1k_words" in row for row in logs)
    assert any("train/rewards/accuracy/mean" in row for row in logs)
