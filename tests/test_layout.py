"""The package's shape: no import cycles inside trl_r1, and only public names of the rewards
package used from it (its `__all__`), so that a plugin reward meets the same interface ours do."""

from __future__ import annotations

import ast
import re
import subprocess
from pathlib import Path

import trl_r1_rewards

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "trl_r1"


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> list[tuple[str, list[str], bool]]:
    """(module imported, names, at module level?) for every import statement of a file."""
    tree = ast.parse(path.read_text())
    package = _module_name(path) if path.name == "__init__.py" else _module_name(path).rpartition(".")[0]
    top_level = {id(node) for node in tree.body}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            found.append((base, [a.name for a in node.names], id(node) in top_level))
        elif isinstance(node, ast.Import):
            found += [(a.name, [], id(node) in top_level) for a in node.names]
    return found


def _graph() -> dict[str, set[str]]:
    modules = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph: dict[str, set[str]] = {m: set() for m in modules}
    for module, path in modules.items():
        for target, names, _ in _imports(path):
            for candidate in [f"{target}.{n}" for n in names] + [target]:
                if candidate in modules and candidate != module:
                    graph[module].add(candidate)
                    break
    return graph


def test_trl_r1_has_no_import_cycles_counting_imports_inside_functions():
    graph, state, cycles = _graph(), {}, []

    def visit(module: str, path: list[str]) -> None:
        state[module] = "open"
        for target in sorted(graph[module]):
            if state.get(target) == "open":
                cycles.append(" -> ".join(path[path.index(target):] + [target]))
            elif target not in state:
                visit(target, path + [target])
        state[module] = "done"

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])
    assert not cycles, cycles


def test_trl_r1_uses_only_public_names_of_the_rewards_package():
    private = []
    for path in PACKAGE.rglob("*.py"):
        for target, names, _ in _imports(path):
            if target.startswith("trl_r1_rewards."):
                private.append(f"{path.name}: {target}")
            elif target == "trl_r1_rewards":
                private += [f"{path.name}: {n}" for n in names if n not in trl_r1_rewards.__all__]
    assert not private, private


def test_a_new_subpackage_folder_has_an_init_and_every_module_a_docstring():
    for path in PACKAGE.rglob("*.py"):
        assert (path.parent / "__init__.py").is_file(), path
        assert ast.get_docstring(ast.parse(path.read_text())), f"{path} has no module docstring"


# The name of the team's private notes file, which users do not have: nothing may cite it.
OUTSIDE_NOTES = "R1_" + "FACTS"


def test_every_docs_citation_names_a_file_and_section_that_exist():
    """Code, recipes and READMEs cite `docs/<page>.md, "Section"`: the page and a heading with
    that title are in the repository (nothing points outside it)."""
    tracked = subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True).stdout.split()
    cited = re.compile(r'(docs/[\w-]+\.md)(?:,\s*(?:#\s*)?"([^"]+)")?')
    found = 0
    for name in tracked:
        path = REPO / name
        if path.suffix not in {".py", ".yaml", ".md", ".toml"} or not path.is_file():
            continue
        for page, section in cited.findall(path.read_text(errors="replace")):
            found += 1
            target = REPO / page
            assert target.is_file(), f"{name} cites {page}, which does not exist"
            if section:
                headings = {h.strip() for h in re.findall(r"^#+ (.+)$", target.read_text(), re.M)}
                assert section in headings, f"{name} cites {page}, \"{section}\"; its headings: {sorted(headings)}"
        assert OUTSIDE_NOTES not in path.read_text(errors="replace") or name == "tests/test_layout.py", name
    assert found >= 10
