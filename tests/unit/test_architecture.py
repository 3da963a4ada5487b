"""The layout's rules, read from the imports (function-level imports count too):
no import cycles, nothing low imports something high, and the action server never
reaches the gateway's pipeline or its language detector (docs/architecture.md)."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from functools import cache
from pathlib import Path

import pytest

from bot.settings import PROJECT_ROOT

ROOTS = ("bot", "actions", "rasa_addons")
# Low to high: a package may import its own layer's package and the layers below.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("rasa_addons", "bot.protocol", "bot.settings", "bot.errors", "bot.texts", "bot.metrics"),
    ("bot.messages", "bot.i18n", "bot.db"),
    ("bot.answers", "bot.records", "bot.nlu", "bot.delivery", "bot.logging_setup"),
    ("bot.handoff",),
    ("bot.tickets",),
    ("bot.pipeline",),
    ("bot.jobs", "bot.channels", "bot.staff"),
    ("bot.app",),
    ("bot.ops",),
)
# Same-layer imports across packages, each with its reason.
ALLOWED_SIDEWAYS = {
    # The log filter masks card and passport numbers with the registry's own masking.
    ("bot.logging_setup", "bot.records"),
}
NOT_FOR_ACTIONS = (
    "bot.pipeline",
    "bot.nlu.langid",
    "bot.nlu.latin_langid",
    "bot.channels",
    "bot.handoff",
    "bot.staff",
)


@cache
def modules() -> dict[str, Path]:
    found = {}
    for root in ROOTS:
        for path in (PROJECT_ROOT / root).rglob("*.py"):
            if "migrations" in path.parts:
                continue
            name = ".".join(path.relative_to(PROJECT_ROOT).with_suffix("").parts)
            found[name.removesuffix(".__init__")] = path
    return found


@cache
def imports_of(module: str) -> frozenset[str]:
    path = modules()[module]
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parts, base] if base else parts)
            names = [f"{base}.{a.name}" for a in node.names] + [base]
        for name in names:
            while name and name not in modules():
                name = name.rsplit(".", 1)[0] if "." in name else ""
            if name and name != module and name not in ("bot", "actions"):
                found.add(name)
    return frozenset(found)


def group(module: str) -> str:
    for layer in LAYERS:
        for prefix in layer:
            if module == prefix or module.startswith(prefix + "."):
                return prefix
    raise AssertionError(f"{module} belongs to no layer: add it to LAYERS")


def layer(module: str) -> int:
    prefix = group(module)
    return next(i for i, names in enumerate(LAYERS) if prefix in names)


def bot_modules() -> Iterator[str]:
    return (m for m in modules() if m.startswith(("bot.", "rasa_addons")))


def test_every_module_has_a_layer() -> None:
    for module in bot_modules():
        group(module)


def test_nothing_low_imports_something_high() -> None:
    wrong = []
    for module in bot_modules():
        for imported in imports_of(module):
            if imported.startswith("actions"):
                wrong.append(f"{module} -> {imported}")
                continue
            if layer(imported) > layer(module):
                wrong.append(f"{module} (layer {layer(module)}) -> {imported} ({layer(imported)})")
            elif (
                layer(imported) == layer(module)
                and group(imported) != group(module)
                and (group(module), group(imported)) not in ALLOWED_SIDEWAYS
            ):
                wrong.append(f"{module} -> {imported} (sideways in layer {layer(module)})")
    assert wrong == []


def test_no_import_cycles() -> None:
    graph = {m: imports_of(m) for m in modules()}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []
    counter = 0

    def visit(node: str) -> None:  # Tarjan's strongly connected components
        nonlocal counter
        index[node] = low[node] = counter
        counter += 1
        stack.append(node)
        on_stack.add(node)
        for nxt in graph[node]:
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for module in graph:
        if module not in index:
            visit(module)
    assert cycles == []


@pytest.mark.parametrize("action", sorted(m for m in modules() if m.startswith("actions")))
def test_the_actions_never_reach_the_gateways_pipeline(action: str) -> None:
    seen: set[str] = set()
    todo = [action]
    while todo:
        current = todo.pop()
        for imported in imports_of(current):
            if imported not in seen:
                seen.add(imported)
                todo.append(imported)
    reached = sorted(m for m in seen if m.startswith(NOT_FOR_ACTIONS))
    assert reached == [], f"{action} reaches {reached}"
