"""``-m engines`` fails, not skips, where the engines cannot be imported (tests/conftest.py): a
CI whose engines environment broke must not pass green with nothing run."""

from __future__ import annotations

import os
import subprocess
import sys

from helpers import REPO

ENGINES_TEST = "tests/plan/test_memory.py::test_model_states_agree_with_deepspeeds_own_estimator_within_5_percent"


def test_an_engines_test_fails_with_a_clear_message_where_vllm_cannot_be_imported(tmp_path):
    (tmp_path / "vllm").mkdir()  # a vLLM that fails at import, whatever this environment has installed
    (tmp_path / "vllm" / "__init__.py").write_text("raise ImportError('a broken engines environment')\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")])}
    result = subprocess.run([sys.executable, "-m", "pytest", "-m", "engines", ENGINES_TEST, "-q", "-p", "no:cacheprovider"],
                            capture_output=True, text=True, timeout=300, cwd=REPO, env=env)
    assert result.returncode != 0, result.stdout[-3000:]
    assert "skipped" not in result.stdout.splitlines()[-1]
    assert "is marked `engines` but `import vllm` failed (ImportError: a broken engines environment)" in result.stdout
    assert "Run `-m engines` in the engines environment that .ci/run builds" in result.stdout
