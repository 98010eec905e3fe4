"""Imports run one way (DESIGN.md), inside an app too: no module imports, at the top or inside a
function, a module that imports it back (the same reading as shared/tools/import_cycles.py)."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def imports_of(path: Path, package: str) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            base = node.module if not node.level else f"{package}.{node.module}"
            found |= {base} | {f"{base}.{alias.name}" for alias in node.names}
    return found


APPS = ["core", "compliance", "accounts", "projects", "billing", "config"]


def graph(*apps: str) -> dict[str, set[str]]:
    modules = {}
    for path in (p for app in apps for p in (ROOT / app).rglob("*.py")):
        if "migrations" in path.parts:
            continue
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        modules[".".join(parts)] = path

    def resolve(name: str) -> str | None:
        while name and name not in modules:
            name = name.rpartition(".")[0]
        return name or None

    return {
        name: {target for imported in imports_of(path, name.rpartition(".")[0]) if (target := resolve(imported)) and target != name}
        for name, path in modules.items()
    }


def circles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index, low, stack, on_stack, found, counter = {}, {}, [], set(), [], [0]

    def visit(node):
        index[node] = low[node] = counter[0]
        counter[0] += 1
        stack.append(node)
        on_stack.add(node)
        for other in edges.get(node, ()):
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in on_stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in edges:
        if node not in index:
            visit(node)
    return found


def test_no_circle_of_imports_in_or_between_the_apps():
    assert circles(graph(*APPS)) == []


def test_the_circle_finder_finds_a_circle():
    assert circles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_module_outgrows_600_lines():
    """A module that outgrows its size becomes a package by what it keeps (issue 12): none of the
    project's own Python files (migrations aside) is over 600 lines."""
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    too_long = sorted(
        f"{path.relative_to(root)}: {n} lines" for path in root.glob("*/**/*.py")
        if not {".venv", "migrations", "node_modules", "staticfiles"} & set(path.relative_to(root).parts)
        and (n := len(path.read_text(encoding="utf-8").splitlines())) > 600
    )
    assert too_long == []
