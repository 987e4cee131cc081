"""The import graph over ``producer/``: no cycles, and no import running back up the layers.

Every module's imports are read with ``ast`` (``import producer.x``, ``from producer.x import y``,
``from . import y``, ``from .x import y``); ``from package import name`` counts as an import of
the submodule ``package.name`` when that is a module, else of the package. The layers are the
steps of a window, bottom to top (docs/architecture.md, "Layers"): a module may import its own
layer and the layers below, never one above.

Two graphs:

- the **cycle** check reads module-level imports only: statements at the top of the module,
  also inside a top-level ``if``/``try``/``with``, but not the body of ``if TYPE_CHECKING:``
  (never executed) nor imports deferred into a function (run after every module has loaded).
- the **layer** check reads every import, deferred and ``TYPE_CHECKING`` ones included: a
  layer that needs an upper one only for a type or only later still depends on it.
"""

from __future__ import annotations

import ast
from pathlib import Path

import producer

ROOT = Path(producer.__file__).parent

# Bottom to top. A module's layer is the one of the longest name below that is the module itself
# or one of its packages (``pkg.__init__`` names the package's own module, not its submodules).
# Names are relative to ``producer``; "" is the package itself; ``*`` is any one name (each
# platform's folder: a new platform's ``settings.py`` and ``platform.py`` need no row).
LAYERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    (
        "base",
        (
            "",
            "errors",
            "clock",
            "logs",
            "lifecycle",
            "allocator",
            "settings",
            # A platform's variables and checks: pydantic and ``settings.base`` only.
            "platforms.*.settings",
            "telemetry",
            # The Azure account the settings check when they load: no SDK, only ``errors``.
            "lake.azure_account",
        ),
    ),
    ("plan", ("windows",)),
    ("extract", ("platforms", "api", "auth", "ratelimit", "budget")),
    (
        "map",
        (
            "domains",
            "issues",
        ),
    ),
    (
        "feed",
        (
            # A platform's feeds: which domains it serves, with which extractor and which
            # mapper. They compose the two steps below them, so they sit above the mappers;
            # ``producer.platforms.source_platform`` (the package's ``__init__``, the registry)
            # imports them by name, when asked.
            "platforms.__init__",
            # ``domain_spec``: a domain's plan joined with its platform's feed.
            "domains.__init__",
            "platforms.source",
            "platforms.*.platform",
            "platforms.genesys.feeds",
            "platforms.nice.registry",
            "platforms.nice.wiring",
        ),
    ),
    ("validate", ("contracts", "envelope", "routing", "seen")),
    ("write", ("lake", "bus", "majors", "catalog")),
    ("commit", ("checkpoint", "accounting", "reports", "alerts", "alert_email")),
    ("run", ("worker", "loop")),
    ("daemon", ("daemon", "summary", "progress")),
    ("operate", ("ops", "governance")),
    ("cli", ("cli", "__main__", "demo")),
)


def _modules() -> dict[str, Path]:
    """Every module under ``producer/`` by dotted name (a package by its ``__init__``)."""
    found: dict[str, Path] = {}
    for path in sorted(ROOT.rglob("*.py")):
        parts = ["producer", *path.relative_to(ROOT).with_suffix("").parts]
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


MODULES = _modules()


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _targets(module: str, node: ast.Import | ast.ImportFrom) -> set[str]:
    """The ``producer`` modules one import statement loads."""
    names: set[str] = set()
    if isinstance(node, ast.Import):
        for alias in node.names:
            names.add(_owner(alias.name))
    else:
        if node.level:
            package = module.split(".")
            if MODULES[module].name != "__init__.py":
                package.pop()
            package = package[: len(package) - (node.level - 1)]
            base = ".".join([*package, *([node.module] if node.module else [])])
        else:
            base = node.module or ""
        for alias in node.names:
            full = f"{base}.{alias.name}"
            names.add(full if full in MODULES else _owner(base))
    return {name for name in names if name.startswith("producer") and name != module}


def _owner(name: str) -> str:
    """The module a dotted name is in: itself, or the nearest package above that exists."""
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name


def _imports(module: str, *, module_level: bool) -> set[str]:
    tree = ast.parse(MODULES[module].read_text(encoding="utf-8"))
    found: set[str] = set()
    if not module_level:
        for node in ast.walk(tree):
            if isinstance(node, ast.Import | ast.ImportFrom):
                found.update(_targets(module, node))
        return found

    def visit(body: list[ast.stmt]) -> None:
        for stmt in body:
            if isinstance(stmt, ast.Import | ast.ImportFrom):
                found.update(_targets(module, stmt))
            elif isinstance(stmt, ast.If):
                if not _is_type_checking(stmt.test):
                    visit(stmt.body)
                visit(stmt.orelse)
            elif isinstance(stmt, ast.Try):
                visit(stmt.body)
                for handler in stmt.handlers:
                    visit(handler.body)
                visit(stmt.orelse)
                visit(stmt.finalbody)
            elif isinstance(stmt, ast.With | ast.AsyncWith):
                visit(stmt.body)

    visit(tree.body)
    return found


def _is_or_in(relative: str, name: str) -> bool:
    """``relative`` (a module's name under ``producer``) is ``name`` or inside the package
    ``name``; a ``*`` of ``name`` stands for any one part."""
    wanted = name.split(".")
    parts = relative.split(".")
    return len(parts) >= len(wanted) and all(
        want in ("*", part) for want, part in zip(wanted, parts, strict=False)
    )


def _layer(module: str) -> int:
    relative = module.removeprefix("producer").removeprefix(".")
    best: tuple[int, int] | None = None
    for rank, (_, names) in enumerate(LAYERS):
        for name in names:
            inside = (
                name == ""
                or (name.endswith(".__init__") and relative == name.removesuffix(".__init__"))
                or (not name.endswith(".__init__") and _is_or_in(relative, name))
            )
            if inside and (best is None or len(name) > best[1]):
                best = (rank, len(name))
    assert best is not None
    return best[0]


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every strongly connected component of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def connect(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph[node]):
            if target not in index:
                connect(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component: list[str] = []
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
            connect(node)
    return found


def test_the_graph_is_read() -> None:
    """The reader finds known edges of every kind, so an empty graph cannot pass the checks."""
    assert "producer.windows" in _imports("producer.lake.keys", module_level=True)
    assert "producer.api.pages" in _imports("producer.platforms.nice.shapes", module_level=True)
    deferred = _imports("producer.domains", module_level=False)
    assert "producer.platforms" in deferred
    assert "producer.platforms" not in _imports("producer.domains", module_level=True)
    assert "producer.telemetry.admin" in _imports("producer.telemetry.server", module_level=True)


def test_every_module_has_a_layer() -> None:
    named = {name for _, names in LAYERS for name in names if name}
    unplaced = [
        module
        for module in MODULES
        if module != "producer"
        and not any(_is_or_in(module.removeprefix("producer."), name) for name in named)
    ]
    assert unplaced == []


def test_each_platforms_settings_and_platform_module_has_its_layer() -> None:
    """``platforms.*.settings`` is the base layer (below everything it must not import), and
    ``platforms.*.platform`` the feed layer, for every platform folder."""
    ranks = {name: rank for rank, (name, _) in enumerate(LAYERS)}
    for module in MODULES:
        parts = module.split(".")
        if len(parts) == 4 and parts[1] == "platforms" and parts[3] == "settings":
            assert _layer(module) == ranks["base"], module
        if len(parts) == 4 and parts[1] == "platforms" and parts[3] == "platform":
            assert _layer(module) == ranks["feed"], module
    assert _layer("producer.platforms.genesys.jobs") == ranks["extract"]
    assert _layer("producer.platforms") == ranks["feed"]


def test_no_import_cycles() -> None:
    graph = {module: _imports(module, module_level=True) for module in MODULES}
    assert _cycles(graph) == []


def test_no_import_runs_up_the_layers() -> None:
    upward = sorted(
        f"{module} ({LAYERS[_layer(module)][0]}) imports {target} ({LAYERS[_layer(target)][0]})"
        for module in MODULES
        for target in _imports(module, module_level=False)
        if _layer(target) > _layer(module)
    )
    assert upward == []
