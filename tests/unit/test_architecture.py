"""The shape of the code, checked: no import cycles, no service leaning on another.

Every `import` in contracts/, services/ and zaiban/ counts, wherever it stands (inside a
function or under TYPE_CHECKING too): an import hidden in a function is still a
dependency, and a cycle hidden that way is still two modules that cannot be read apart.

Who may import whom:
- a service (`services/intake`, `routing`, `tracking`, `metrics`) imports the contracts,
  the kit (`services/common`), the lifecycle and its own modules, never another service:
  services meet only on the bus;
- shared code (`contracts`, `services/common`, `services/lifecycle`, `services/web`, and
  anything else under services/ outside a service) imports no service;
- the composition root (`services/composition.py`) imports every service: it is the one
  place that builds them. The tools in `zaiban/` (CLI, benchmarks, demo) run services
  through it, and may read a service's own modules (a replay, a store).
The lifecycle's purity (no framework, store, broker or settings) is checked by
`tests/unit/lifecycle/test_purity.py`.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("contracts", "services", "zaiban")
SERVICES = ("intake", "routing", "tracking", "metrics", "opendata")
COMPOSITION = "services.composition"

Graph = Mapping[str, set[str]]


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES: dict[str, Path] = {
    module_name(path): path
    for package in PACKAGES for path in sorted((ROOT / package).rglob("*.py"))
}


def imports_in(source: str, name: str, *, is_package: bool = False) -> Iterator[str]:
    """Every module the module `name` (of `source`) imports, relative imports resolved; for
    `from x import y`, the module `x.y` when it is one of ours, else `x`."""
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = name.split(".")
                anchor = anchor[: len(anchor) - node.level + (1 if is_package else 0)]
                base = ".".join([*anchor, base] if base else anchor)
            for alias in node.names:
                submodule = f"{base}.{alias.name}"
                yield submodule if submodule in MODULES else base


def ours(target: str) -> str | None:
    """The module of ours that `target` names, or None for a third-party one."""
    while target and target not in MODULES:
        target = target.rpartition(".")[0]
    return target or None


def imported(name: str) -> set[str]:
    """Our modules that module `name` imports."""
    path = MODULES[name]
    found = imports_in(path.read_text(encoding="utf-8"), name,
                       is_package=path.name == "__init__.py")
    return {module for target in found if (module := ours(target)) and module != name}


GRAPH: dict[str, set[str]] = {name: imported(name) for name in MODULES}


def service_of(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[0] == "services" and parts[1] in SERVICES \
        else None


def cycles(graph: Graph) -> list[list[str]]:
    """Each import cycle once (Tarjan's strongly connected components of two or more)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
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


def leaning_on_other_services(graph: Graph, service: str) -> list[str]:
    """Imports from a module of `service` into another service."""
    return sorted(f"{module} -> {target}"
                  for module, targets in graph.items() if service_of(module) == service
                  for target in targets if service_of(target) not in (None, service))


def shared_leaning_on_services(graph: Graph) -> list[str]:
    """Imports of a service from shared code: contracts/ and services/ outside the services,
    but for the composition root."""
    shared = [m for m in graph if m.startswith(("contracts", "services"))
              and service_of(m) is None and m != COMPOSITION]
    return sorted(f"{m} -> {t}" for m in shared for t in graph[m] if service_of(t))


# --- the walk itself ------------------------------------------------------------------


def test_the_walk_sees_imports_wherever_they_stand() -> None:
    source = ("from typing import TYPE_CHECKING\nfrom . import commands\n"
              "if TYPE_CHECKING:\n    from services.routing.service import RoutingService\n"
              "def later():\n    import services.composition\n")
    assert {ours(t) for t in imports_in(source, "services.routing.api")} >= {
        "services.routing.commands", "services.routing.service", "services.composition"}
    # on the code: the root builds every service; the CLI imports it inside a function
    assert {f"services.{s}.service" for s in SERVICES} <= GRAPH[COMPOSITION]
    assert COMPOSITION in GRAPH["zaiban.cli"]
    assert len(MODULES) > 50


def test_the_checks_would_see_a_cycle_and_a_service_leaning_on_another() -> None:
    graph = {"services.routing.api": {"services.routing.service"},
             "services.routing.service": {"services.routing.api", "services.intake.service"},
             "services.common.http": {"services.tracking.store"},
             COMPOSITION: {"services.intake.service", "services.routing.service"}}
    assert cycles(graph) == [["services.routing.api", "services.routing.service"]]
    assert leaning_on_other_services(graph, "routing") == [
        "services.routing.service -> services.intake.service"]
    assert shared_leaning_on_services(graph) == [
        "services.common.http -> services.tracking.store"]


# --- the code -------------------------------------------------------------------------


def test_no_module_imports_itself_back() -> None:
    assert cycles(GRAPH) == []


@pytest.mark.parametrize("service", SERVICES)
def test_a_service_imports_no_other_service(service: str) -> None:
    assert leaning_on_other_services(GRAPH, service) == []


def test_shared_code_imports_no_service_only_the_composition_root_does() -> None:
    assert shared_leaning_on_services(GRAPH) == []
