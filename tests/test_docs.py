"""The front door and the docs: every page reachable from the README, every relative link
resolving, the README short and free of figures a test run changes, and its test command the one
`.ci/run` runs. Facts about the project (extras, recipes) are read from the project, not from prose."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"
DOCS = sorted((REPO / "docs").glob("*.md"))
PAGES = [README, *DOCS, *sorted((REPO / "examples").rglob("README.md")), REPO / "rewards" / "README.md"]
README_LIMIT = 15 * 1024  # bytes: a newcomer reads it in five minutes

LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


def anchor(heading: str) -> str:
    """GitHub's id for a Markdown heading.

    >>> anchor("On GPUs: check, plan, rehearse, launch"), anchor("`stage: sft` & co")
    ('on-gpus-check-plan-rehearse-launch', 'stage-sft--co')
    """
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def headings(page: Path) -> set[str]:
    text = re.sub(r"^```.*?^```", "", page.read_text(), flags=re.S | re.M)  # not the comments of code blocks
    return {anchor(h) for h in re.findall(r"^#+ (.+)$", text, re.M)}


def relative_links(page: Path) -> list[str]:
    return [t for t in LINK.findall(page.read_text()) if not re.match(r"[a-z]+:", t)]


def test_every_docs_page_is_linked_from_the_readme():
    linked = {(README.parent / t.split("#")[0]).resolve() for t in relative_links(README) if t.split("#")[0]}
    unlinked = [p.name for p in DOCS if p.resolve() not in linked]
    assert DOCS and not unlinked, f"docs pages the README does not link to: {unlinked}"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(REPO)))
def test_every_relative_link_resolves_to_a_file_and_heading(page):
    broken = []
    for target in relative_links(page):
        path, _, fragment = target.partition("#")
        resolved = (page.parent / path).resolve() if path else page
        if not resolved.exists():
            broken.append(f"{target}: no such file")
        elif fragment and resolved.suffix == ".md" and fragment not in headings(resolved):
            broken.append(f"{target}: no such heading")
    assert not broken, broken


def test_the_readme_is_short_and_holds_no_figure_a_test_run_changes():
    assert len(README.read_bytes()) < README_LIMIT
    for page in [README, *DOCS]:
        counts = re.findall(r"\b\d[\d,]* (?:tests|passed|test cases)\b", page.read_text())
        assert not counts, f"{page.name}: {counts}: a test count goes stale with the next test"


def test_the_readme_test_command_is_what_ci_runs():
    """The README's test command, step by step, is what `.ci/run` runs (quiet flags aside), in order."""
    (command,) = [line for line in README.read_text().splitlines()
                  if line.startswith("python3 -m venv") and " && python -m pytest" in line]
    ci = [line.split(" #")[0].replace(" --quiet", "").strip() for line in (REPO / ".ci" / "run").read_text().splitlines()
          if line.strip() and not line.lstrip().startswith("#")]
    position = -1
    for step in command.split(" && "):
        assert step in ci[position + 1:], f"README's test step {step!r} is not in .ci/run after the steps before it"
        position = ci.index(step, position + 1)
