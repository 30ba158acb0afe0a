"""The resumable loop over questions that the ``evaluate`` and ``sample`` stages share: each
question's rows are appended to a JSONL file as soon as they are scored, a re-run skips the
finished questions, and a re-run with other settings is refused instead of mixing samples."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from .backends import Backend, Completion, Sampling


def read_samples(path: Path, num_samples: int) -> dict[int, list[dict]]:
    """Finished questions of a previous run: index (a row's ``question``) -> its rows. A line cut
    short by a crash, and a question with fewer than ``num_samples`` rows, are dropped (the file
    is rewritten without them) so that they are generated again."""
    if not path.is_file():
        return {}
    found: dict[int, list[dict]] = {}
    text = path.read_text()
    lines = text.splitlines()
    for line in lines:
        try:
            sample = json.loads(line)
        except json.JSONDecodeError:
            continue
        found.setdefault(sample["question"], []).append(sample)
    done = {q: s for q, s in found.items() if len(s) == num_samples}
    kept = [json.dumps(s) for samples in done.values() for s in samples]
    if len(kept) != len(lines) or not text.endswith("\n"):
        path.write_text("".join(line + "\n" for line in kept))
    return done


def check_settings(output_dir: Path, settings: dict[str, Any], samples_file: str, settings_file: str = "settings.json") -> None:
    """Record ``settings`` in ``output_dir``; refuse when the samples there were drawn with others."""
    path = output_dir / settings_file
    settings = json.loads(json.dumps(settings))
    if path.is_file():
        previous = json.loads(path.read_text())
        changed = sorted(k for k in settings if previous.get(k) != settings[k])
        if changed and (output_dir / samples_file).is_file():
            raise ValueError(
                f"{output_dir} holds samples drawn with other settings ({', '.join(changed)}); "
                "use another output_dir, or delete it to start over")
    output_dir.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(settings, indent=2) + "\n")


def sample_questions(
    backend: Backend,
    prompts: list,
    todo: list[int],
    sampling: Sampling,
    batch_size: int,
    score: Callable[[int, Any, list[Completion]], list[dict]],
    path: Path,
    done: dict[int, list[dict]],
    desc: str,
) -> None:
    """Sample ``prompts[i]`` for every ``i`` in ``todo``, ``batch_size`` questions per call (the
    seed offset by the batch's first index); ``score(i, prompt, completions)`` makes question
    ``i``'s rows, which are appended to ``path`` at once (a finished question survives a crash)
    and stored in ``done[i]``. A progress bar counts questions."""
    with tqdm(total=len(todo), desc=desc, unit="question") as bar, path.open("a") as out:
        for start in range(0, len(todo), batch_size):
            batch = todo[start:start + batch_size]
            batch_prompts = [prompts[i] for i in batch]
            seeded = dataclasses.replace(sampling, seed=sampling.seed + batch[0])
            for i, prompt, completions in zip(batch, batch_prompts, backend.generate(batch_prompts, seeded), strict=True):
                rows = score(i, prompt, completions)
                out.write("".join(json.dumps(r) + "\n" for r in rows))
                out.flush()
                done[i] = rows
            bar.update(len(batch))
