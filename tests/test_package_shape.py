"""The package's shape holds: no import circles, layers import one way, no module-level mutable state.

Read from the source (``ast``), so it covers imports inside functions too (the way an import
circle hides) and every module, imported or not. The map is ``docs/package_map.md``.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "hoomd_mlx"
MUTATORS = {"append", "extend", "add", "update", "pop", "popitem", "setdefault", "clear", "remove", "insert"}


def _modules() -> dict[str, ast.Module]:
    out = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        out[name] = ast.parse(path.read_text(), str(path))
    return out


MODULES = _modules()


def _imports(name: str, tree: ast.Module) -> set[str]:
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("hoomd_mlx"):
            found.add(node.module)
            found.update(
                f"{node.module}.{a.name}" for a in node.names if f"{node.module}.{a.name}" in MODULES
            )
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("hoomd_mlx"))
    return {m for m in found if m in MODULES and m != name}


GRAPH = {name: _imports(name, tree) for name, tree in MODULES.items()}


def test_no_import_circles():
    # package __init__ modules re-export their children (a parent -> child edge); leave those out
    graph = {
        name: {m for m in deps if not (MODULES[name] and m.startswith(name + "."))}
        for name, deps in GRAPH.items()
    }
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for dep in sorted(graph[node]):
            if state.get(dep) == 1:
                cycle = [*stack[stack.index(dep) :], dep]
                pytest.fail("import circle: " + " -> ".join(cycle))
            if dep not in state:
                visit(dep)
        stack.pop()
        state[node] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name)


@pytest.mark.parametrize(
    ("lower", "upper"),
    [
        ("hoomd_mlx.cloud", "hoomd_mlx.campaign"),  # campaign uses cloud, never the other way round
        ("hoomd_mlx.coupling", "hoomd_mlx.campaign"),
        ("hoomd_mlx.coupling", "hoomd_mlx.electrolyte"),  # the ML layer holds no workload's physics
        ("hoomd_mlx.plugin", "hoomd_mlx.campaign"),  # the plugin knows nothing of campaigns
        ("hoomd_mlx.campaign", "hoomd_mlx.electrolyte"),  # workloads plug in through entry points
        ("hoomd_mlx.campaign.job", "hoomd_mlx.campaign.driver"),  # the job and the driver share the contract
        ("hoomd_mlx.campaign.job", "hoomd_mlx.campaign.backends"),
        ("hoomd_mlx.campaign.config", "hoomd_mlx.campaign.driver"),
        ("hoomd_mlx.campaign.config", "hoomd_mlx.campaign.backends"),
        ("hoomd_mlx.campaign.backends", "hoomd_mlx.campaign.driver"),
        ("hoomd_mlx.campaign.report", "hoomd_mlx.campaign.backends"),
    ],
)
def test_layers_import_one_way(lower, upper):
    offending = sorted(
        f"{name} imports {dep}"
        for name, deps in GRAPH.items()
        if name == lower or name.startswith(lower + ".")
        for dep in deps
        if dep == upper or dep.startswith(upper + ".")
    )
    assert not offending, offending


def _module_level_mutables(tree: ast.Module) -> set[str]:
    names = set()
    for node in tree.body:
        targets, value = [], None
        if isinstance(node, ast.Assign):
            targets, value = node.targets, node.value
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            targets, value = [node.target], node.value
        mutable = isinstance(
            value, ast.Dict | ast.List | ast.Set | ast.DictComp | ast.ListComp | ast.SetComp
        ) or (
            isinstance(value, ast.Call)
            and getattr(value.func, "id", "") in ("dict", "list", "set", "defaultdict")
        )
        if mutable:
            names.update(t.id for t in targets if isinstance(t, ast.Name) and t.id != "__all__")
    return names


def test_no_module_level_mutable_state():
    mutated = []
    for name, tree in MODULES.items():
        shared = _module_level_mutables(tree)
        for node in ast.walk(tree):
            target = None
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr in MUTATORS
            ):
                target = node.func.value
            elif isinstance(node, ast.Assign | ast.AugAssign | ast.Delete):
                for t in getattr(node, "targets", None) or [getattr(node, "target", None)]:
                    if isinstance(t, ast.Subscript):
                        target = t.value
            if isinstance(target, ast.Name) and target.id in shared:
                mutated.append(f"{name}.{target.id} (line {node.lineno})")
    assert not mutated, f"module-level state changed at run time: {mutated}"


def test_the_checks_can_fail():
    """The circle and the state checks find what they look for."""
    tree = ast.parse("CACHE = {}\ndef f(k):\n    CACHE[k] = 1\n")
    assert _module_level_mutables(tree) == {"CACHE"}
    assert "hoomd_mlx.campaign.backends.cluster" in GRAPH["hoomd_mlx.campaign.driver.runner"]


def test_campaign_subpackages_form_no_circle():
    """Folders of campaign/ import one another one way only (config lowest, driver and report on top)."""

    def folder(module: str) -> str:
        parts = module.split(".")
        return parts[2] if len(parts) > 2 else "campaign"

    edges: dict[str, set[str]] = {}
    for name, deps in GRAPH.items():
        if name.startswith("hoomd_mlx.campaign."):
            for dep in deps:
                if dep.startswith("hoomd_mlx.campaign.") and folder(dep) != folder(name):
                    edges.setdefault(folder(name), set()).add(folder(dep))
    for a, targets in edges.items():
        for b in targets:
            assert a not in edges.get(b, set()), f"campaign/{a} and campaign/{b} import each other"
    assert "driver" not in edges.get("job", set())
    assert edges.get("config", set()) <= {"events"}
