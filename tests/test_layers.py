"""The architecture as the folders show it: commands on top, no import in a circle, modules of one idea,
the book named wherever a module speaks of "the chapter"."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "netopt"
#: Modules longer than 300 lines that are one formula-dense idea each: the normalization layers, the
#: initializers and the learning-rate schedules, each a family of formulas behind one interface.
DENSE = {"netopt/nn/norm.py", "netopt/init.py", "netopt/schedules.py"}


def modules() -> dict[str, Path]:
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
        found[name.removesuffix(".__init__")] = path
    return found


def imported(path: Path, known: dict[str, Path], everywhere: bool) -> set[str]:
    """The netopt modules ``path`` imports: at module level, or ``everywhere`` (functions too). ``from
    package import module`` imports the module, not the package."""
    tree = ast.parse(path.read_text())
    nodes = (
        ast.walk(tree)
        if everywhere
        else (
            n
            for top in tree.body
            for n in ast.walk(top)
            if not isinstance(top, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
        )
    )
    names: set[str] = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            submodules = {f"{node.module}.{alias.name}" for alias in node.names} & known.keys()
            names |= submodules or {node.module}
    return {name for name in names if name in known}


def unit(module: str) -> str:
    """The folder-level part a module belongs to: ``netopt.optim.adam`` -> ``netopt.optim``."""
    return ".".join(module.split(".")[:2])


def test_no_library_module_imports_a_command():
    known = modules()
    for name, path in known.items():
        if unit(name) != "netopt.cli":
            commands = {m for m in imported(path, known, everywhere=True) if unit(m) == "netopt.cli"}
            assert not commands, f"{name} imports {commands}"


def test_the_parts_import_each_other_in_no_circle():
    known = modules()
    graph: dict[str, set[str]] = {}
    for name, path in known.items():
        for target in imported(path, known, everywhere=False):
            if unit(target) not in (unit(name), "netopt"):
                graph.setdefault(unit(name), set()).add(unit(target))
    done: set[str] = set()

    def visit(node: str, path: list[str]) -> None:
        if node in path:
            raise AssertionError("imports in a circle: " + " -> ".join([*path[path.index(node) :], node]))
        if node not in done:
            for target in sorted(graph.get(node, ())):
                visit(target, [*path, node])
            done.add(node)

    for node in sorted(graph):
        visit(node, [])


@pytest.mark.parametrize("path", sorted(PACKAGE.rglob("*.py")), ids=lambda p: str(p.relative_to(ROOT)))
def test_a_module_is_one_idea_and_names_the_book(path):
    relative = str(path.relative_to(ROOT))
    lines = path.read_text().count("\n")
    assert lines <= 300 or relative in DENSE, f"{relative}: {lines} lines; split it by idea"
    text = path.read_text()
    if "the chapter" in text.lower():
        assert "Qiu Xipeng" in text, f"{relative} speaks of the chapter without naming the book"
