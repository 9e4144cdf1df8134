"""The layers of Tillid's code, and that imports only ever run downwards between them.

core → registries → consent → flows → app (docs/architecture.md). Every import counts, the
ones inside functions too: a lazy import is still a dependency, only a hidden one.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("idp", "clients", "consent", "demo")

# Lowest first. A module belongs to the layer of the longest prefix that names it.
LAYERS: dict[str, tuple[str, ...]] = {
    "core": ("idp.core",),
    "registries": (
        "clients",
        "idp.citizens",
        "idp.keys",
        "idp.authenticators",
        "idp.audit",
        "idp.mandates",
    ),
    "consent": ("consent",),
    "flows": (
        "idp.sessions",
        "idp.auth",
        "idp.security",
        "idp.phone",
        "idp.oidc",
        "idp.account",
        "idp.api",
        "idp.i18n",
        "idp.templating",
        "idp.ops",
        "idp.openapi",
        "idp.wallet",
    ),
    "app": ("idp.app", "idp.errors", "demo"),
}


def _is_command_group(module: str) -> bool:
    """A package's `cli.py` is its `flask` command group: an adapter the app wires in, on top of
    everything like the app itself (it may combine registries, as `citizens create
    --totp-secret` does), and so outside the package circles below."""
    return module.rsplit(".", 1)[-1] == "cli"


# The package `idp` itself holds nothing (its __init__ is a docstring): it is below everything.
PACKAGE_ROOTS = {"idp": "core"}
RANK = {name: rank for rank, name in enumerate(LAYERS)}

# Imports that still run upwards or in a circle while issue 18 moves the code; each step of it
# takes some away. The list may only shrink: a new entry is a new fault.
BEING_MOVED: set[tuple[str, str]] = set()


def _modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            parts = path.relative_to(ROOT).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            found[".".join(parts)] = path
    return found


MODULES = _modules()


def _resolve(name: str) -> str | None:
    """The product module an import names (``from idp.core import db`` names idp.core)."""
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def _imports() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = defaultdict(set)
    for module, path in MODULES.items():
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [f"{node.module}.{alias.name}" for alias in node.names]
            else:
                continue
            for name in names:
                if name.split(".")[0] in PACKAGES:
                    target = _resolve(name)
                    if target and target != module:
                        graph[module].add(target)
    return graph


GRAPH = _imports()


def layer_of(module: str) -> str:
    if _is_command_group(module):
        return "app"
    if module in PACKAGE_ROOTS:
        return PACKAGE_ROOTS[module]
    best, best_prefix = None, ""
    for layer, prefixes in LAYERS.items():
        for prefix in prefixes:
            matches = module == prefix or module.startswith(prefix + ".")
            if matches and len(prefix) > len(best_prefix):
                best, best_prefix = layer, prefix
    assert best is not None, f"{module} is in no layer: add it to LAYERS"
    return best


def _package_of(module: str) -> str:
    """The unit whose circles count: a subpackage of idp, or a top-level package."""
    parts = module.split(".")
    if parts[0] == "idp" and len(parts) > 1 and (ROOT / "idp" / parts[1]).is_dir():
        return ".".join(parts[:2])
    return module if parts[0] == "idp" else parts[0]


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one node (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph.get(node, ())):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
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

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_every_module_is_in_a_layer():
    for module in MODULES:
        layer_of(module)


def test_imports_only_run_downwards():
    upward = {
        (module, target)
        for module, targets in GRAPH.items()
        for target in targets
        if RANK[layer_of(target)] > RANK[layer_of(module)]
    }
    new = sorted(upward - BEING_MOVED)
    assert not new, "imports that run upwards:\n" + "\n".join(
        f"  {a} ({layer_of(a)}) imports {b} ({layer_of(b)})" for a, b in new
    )


def test_no_module_imports_another_in_a_circle():
    circles = [c for c in _cycles(GRAPH) if not _all_being_moved(c)]
    assert not circles, f"modules that import each other in a circle: {circles}"


def test_no_package_imports_another_in_a_circle():
    packages: dict[str, set[str]] = defaultdict(set)
    for module, targets in GRAPH.items():
        for target in targets:
            if _is_command_group(module) or (module, target) in BEING_MOVED:
                continue
            if _package_of(module) != _package_of(target):
                packages[_package_of(module)].add(_package_of(target))
    assert not _cycles(packages), f"packages in a circle: {_cycles(packages)}"


def _all_being_moved(circle: list[str]) -> bool:
    members = set(circle)
    return any((a, b) in BEING_MOVED for a in members for b in GRAPH.get(a, ()) if b in members)


def test_the_being_moved_list_names_only_imports_that_exist():
    """What has been moved comes off the list, so the list cannot hide a new fault later."""
    stale = sorted(pair for pair in BEING_MOVED if pair[1] not in GRAPH.get(pair[0], ()))
    assert not stale, f"no longer imported, take off BEING_MOVED: {stale}"


def _loaded_by(statement: str) -> set[str]:
    """The product modules a fresh interpreter has loaded after ``statement``."""
    code = (
        f"import sys; {statement}; "
        "print('\\n'.join(m for m in sys.modules if m.split('.')[0] in "
        f"{PACKAGES!r}))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    return set(result.stdout.split())


def test_importing_a_model_loads_no_flow_template_or_i18n_code():
    for model in ("clients.models", "idp.citizens.models", "consent.models", "idp.keys.models"):
        loaded = _loaded_by(f"import {model}")
        above = sorted(m for m in loaded if RANK[layer_of(m)] > RANK["consent"])
        assert not above, f"import {model} loads {above}"
        assert not {"idp.i18n", "idp.templating"} & loaded


def test_the_base_layer_imports_nothing_else_of_tillid():
    loaded = _loaded_by("import idp.core.config, idp.core.extensions, idp.core.problems")
    assert {m for m in loaded if layer_of(m) != "core"} <= {"idp"}
