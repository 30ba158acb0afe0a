"""The package's shape: no import cycles inside trl_r1 or the rewards package, and only public names of the rewards
package used from it (its `__all__`), so that a plugin reward meets the same interface ours do."""

from __future__ import annotations

import ast
import re
import subprocess
from pathlib import Path

import trl_r1_rewards

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "trl_r1"
REWARDS = REPO / "rewards" / "trl_r1_rewards"


def _module_name(path: Path, package: Path = PACKAGE) -> str:
    parts = path.relative_to(package.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path, package: Path = PACKAGE) -> list[tuple[str, list[str], bool]]:
    """(module imported, names, at module level?) for every import statement of a file."""
    tree = ast.parse(path.read_text())
    name = _module_name(path, package)
    parent = name if path.name == "__init__.py" else name.rpartition(".")[0]
    top_level = {id(node) for node in tree.body}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = parent.split(".")[: len(parent.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            found.append((base, [a.name for a in node.names], id(node) in top_level))
        elif isinstance(node, ast.Import):
            found += [(a.name, [], id(node) in top_level) for a in node.names]
    return found


def _loaded_by_name(path: Path, modules: dict[str, Path]) -> set[str]:
    """Modules of the package a file names in a string and may load with ``importlib.import_module``
    (``stages/__init__.py`` loads each stage kind so)."""
    source = path.read_text()
    if "import_module" not in source:
        return set()
    return {node.value for node in ast.walk(ast.parse(source))
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value in modules}


def _graph(package: Path, by_name: bool = False) -> dict[str, set[str]]:
    """Which module of ``package`` imports which, counting imports inside functions (and, with
    ``by_name``, modules loaded through importlib by a name the file spells out)."""
    modules = {_module_name(p, package): p for p in package.rglob("*.py")}
    graph: dict[str, set[str]] = {m: set() for m in modules}
    for module, path in modules.items():
        for target, names, _ in _imports(path, package):
            for candidate in [f"{target}.{n}" for n in names] + [target]:
                if candidate in modules and candidate != module:
                    graph[module].add(candidate)
                    break
        if by_name:
            graph[module] |= _loaded_by_name(path, modules) - {module}
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[str]:
    state, cycles = {}, []

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
    return cycles


def test_trl_r1_has_no_import_cycles_counting_imports_inside_functions():
    assert not _cycles(_graph(PACKAGE)), _cycles(_graph(PACKAGE))


def test_the_rewards_package_has_no_import_cycles_counting_imports_inside_functions():
    graph = _graph(REWARDS)
    assert "trl_r1_rewards.equivalence" in graph["trl_r1_rewards.voting"]  # the graph sees the rewards' imports
    assert not _cycles(graph), _cycles(graph)


def test_an_import_inside_a_function_closes_a_cycle(tmp_path):
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text("from .b import f\n")
    (package / "b.py").write_text("def f():\n    from . import a\n")
    assert _cycles(_graph(package)) == ["pkg.a -> pkg.b -> pkg.a"]


def test_trl_r1_has_no_import_cycles_through_the_stage_modules_loaded_by_name():
    graph = _graph(PACKAGE, by_name=True)
    assert "trl_r1.stages.grpo" in graph["trl_r1.stages"]  # the graph sees the stages loaded by name
    assert not _cycles(graph), _cycles(graph)


def test_trl_r1_uses_only_public_names_of_the_rewards_package():
    private = []
    for path in PACKAGE.rglob("*.py"):
        for target, names, _ in _imports(path):
            if target.startswith("trl_r1_rewards."):
                private.append(f"{path.name}: {target}")
            elif target == "trl_r1_rewards":
                private += [f"{path.name}: {n}" for n in names if n not in trl_r1_rewards.__all__]
    assert not private, private


def test_the_rewards_distribution_never_imports_trl_r1():
    """rewards/ (package and tests) installs and tests without the project: `pip install
    ./rewards[test] && pytest rewards`."""
    found = [f"{path.relative_to(REPO)}: {target}" for path in (REPO / "rewards").rglob("*.py") if "build" not in path.parts
             for target, _, _ in _imports(path, path.parent) if target.split(".")[0] == "trl_r1"]
    assert not found, found


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


def test_the_loader_plan_rehearse_and_the_model_card_name_no_stage_kind():
    """What they need to know of a stage they ask the stage module (the hooks `trl_r1/stages/__init__.py`
    lists), so that a new stage kind needs no `if` in them."""
    from trl_r1.stages import STAGES

    quoted = re.compile("[\"'](?:{})[\"']".format("|".join(STAGES)))
    files = [PACKAGE / "recipe.py", PACKAGE / "train" / "hub.py", *sorted((PACKAGE / "plan").glob("*.py")),
             *sorted((PACKAGE / "rehearse").glob("*.py"))]
    found = [f"{path.relative_to(REPO)}:{number}: {line.strip()}" for path in files
             for number, line in enumerate(path.read_text().splitlines(), 1) if quoted.search(line)]
    assert not found, found
