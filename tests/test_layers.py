"""The package's shape, read with `ast` from the source: each folder is one layer that imports only
from layers below it, no module imports itself round a circle, and an import inside a function is
there on purpose, saying why on its line (`# lazy: ...`). docs/architecture.md explains the layers."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "trainlab"
# lowest first; a module may import its own layer and the layers before it. The ground floor is
# the top-level modules every layer speaks: errors, the registry, values, the run config, the console.
LAYERS = ["ground", "data", "nn", "models", "optim", "distributed", "runs", "report", "training", "style",
          "experiments", "api", "cli"]
GROUND = {"errors", "registry", "values", "config", "console", "version"}
MAX_LAZY = 40  # imports inside functions, each with its reason


def module_name(path: Path, package: Path) -> str:
    parts = list(path.relative_to(package.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def layer_of(module: str) -> str:
    parts = module.split(".")
    if len(parts) == 1:
        return "api"  # the flat public API, each name imported from its layer when first used
    if parts[1] == "__main__":
        return "cli"  # `python -m trainlab`
    return "ground" if parts[1] in GROUND else parts[1]


def imports(path: Path, package: Path) -> list[tuple[ast.AST, str, bool]]:
    """(node, imported trainlab module, inside a function) for each import of `path`."""
    modules = {module_name(p, package) for p in package.rglob("*.py")}
    me = module_name(path, package)
    tree = ast.parse(path.read_text())
    inner = {id(n) for f in ast.walk(tree) if isinstance(f, (ast.FunctionDef, ast.AsyncFunctionDef))
             for n in ast.walk(f)}
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                here = me.split(".") if path.name == "__init__.py" else me.split(".")[:-1]
                base = ".".join(here[: len(here) - node.level + 1] + ([base] if base else []))
            names = [base] + [f"{base}.{a.name}" for a in node.names]
        else:
            continue
        targets = [n for n in names if n in modules]
        out.append((node, targets[-1] if targets else "", id(node) in inner))
    return out


def problems(package: Path) -> dict[str, list[str]]:
    """Upward imports, circles and function-level imports without a reason, in words."""
    files = sorted(package.rglob("*.py"))
    graph: dict[str, set[str]] = {}
    upward, unexplained, lazy = [], [], []
    for path in files:
        me = module_name(path, package)
        lines = path.read_text().splitlines()
        graph.setdefault(me, set())
        for node, target, inside in imports(path, package):
            where = f"{path.relative_to(package.parent)}:{node.lineno}"
            if inside:
                lazy.append(where)
                text = " ".join(lines[node.lineno - 1:node.end_lineno])
                if "# lazy:" not in text:
                    unexplained.append(f"{where}: {lines[node.lineno - 1].strip()}")
            if not target or target == me:
                continue
            graph[me].add(target)
            a, b = layer_of(me), layer_of(target)
            if LAYERS.index(b) > LAYERS.index(a):
                upward.append(f"{where}: {a} imports {b} ({me} -> {target})")
    return {"upward imports": upward, "circles": circles(graph), "function-level imports without a reason": unexplained,
            "function-level imports over the budget": lazy[MAX_LAZY:] and [f"{len(lazy)} > {MAX_LAZY}"]}


def circles(graph: dict[str, set[str]]) -> list[str]:
    """Strongly connected components of more than one module (Tarjan), as 'a -> b -> a'."""
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(" <-> ".join(sorted(comp)))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_every_folder_is_a_known_layer():
    folders = {p.name for p in PACKAGE.iterdir() if p.is_dir() and p.name != "__pycache__"}
    packages = {p.parent.name for p in PACKAGE.glob("*/__init__.py")}
    assert folders == packages, f"folders without an __init__.py (a regular install would leave them out): {folders - packages}"
    top = {p.stem for p in PACKAGE.glob("*.py")} - {"__init__", "__main__"}
    assert folders <= set(LAYERS) and top <= GROUND, (folders - set(LAYERS), top - GROUND)
    assert len(top) + 2 <= 12  # at most ~12 modules at the package's top level


@pytest.mark.parametrize("kind", ["upward imports", "circles", "function-level imports without a reason",
                                  "function-level imports over the budget"])
def test_layers_import_only_downwards(kind):
    found = problems(PACKAGE)[kind]
    assert not found, f"{len(found)} {kind}:\n" + "\n".join(found)


def test_the_check_catches_a_broken_layer(tmp_path):
    """Break a layer on purpose in a copy: an upward import, a circle and an unexplained lazy import."""
    pkg = tmp_path / "trainlab"
    for name, text in {
        "__init__.py": "",
        "errors.py": "",
        "data/__init__.py": "",
        "data/a.py": "from ..training import loop\nfrom . import b\n",
        "data/b.py": "from . import a\n\ndef f():\n    import numpy\n\ndef g():\n    import scipy  # lazy: heavy\n",
        "training/__init__.py": "",
        "training/loop.py": "from ..errors import *\n",
    }.items():
        (pkg / name).parent.mkdir(parents=True, exist_ok=True)
        (pkg / name).write_text(text)
    found = problems(pkg)
    assert found["upward imports"] == ["trainlab/data/a.py:1: data imports training (trainlab.data.a -> "
                                       "trainlab.training.loop)"]
    assert found["circles"] == ["trainlab.data.a <-> trainlab.data.b"]
    assert found["function-level imports without a reason"] == ["trainlab/data/b.py:4: import numpy"]
