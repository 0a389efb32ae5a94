"""Every wing keeps its import rules, and the runtime import graph has no circle."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.architecture.graph import PACKAGE, Module, find_cycle, load_modules
from tests.architecture.rules import read_rules, rules_for, violations

WINGS = [
    "asyncexp",
    "asyncexp.aio",
    "asyncexp.analytics",
    "asyncexp.cli",
    "asyncexp.compat",
    "asyncexp.core",
    "asyncexp.core.analytics",
    "asyncexp.core.appconfig",
    "asyncexp.core.flags",
    "asyncexp.flags",
    "asyncexp.integrations",
    "asyncexp.stores",
    "asyncexp.testing",
]


@pytest.fixture(scope="module")
def modules() -> dict[str, Module]:
    return load_modules()


def _rules(modules: dict[str, Module]) -> dict[str, object]:
    found = {}
    for module in modules.values():
        if module.is_package:
            rule = read_rules(module)
            if rule is not None:
                found[module.name] = rule
    return found


def test_every_wing_states_its_rules(modules: dict[str, Module]) -> None:
    assert sorted(_rules(modules)) == WINGS


def test_no_module_breaks_a_wing_rule(modules: dict[str, Module]) -> None:
    assert violations(modules, _rules(modules)) == []  # type: ignore[arg-type]


def test_no_runtime_import_circle(modules: dict[str, Module]) -> None:
    assert find_cycle(modules) is None


def test_the_package_is_what_the_graph_sees(modules: dict[str, Module]) -> None:
    assert len(modules) == len(list(PACKAGE.rglob("*.py")))
    client = modules["asyncexp.client"]
    assert "asyncexp.flags.decider" in client.runtime  # the reader really saw imports


def _fake(tmp_path: Path, files: dict[str, str]) -> dict[str, Module]:
    import tests.architecture.graph as graph

    root = tmp_path / "asyncexp"
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    old = graph.PACKAGE
    graph.PACKAGE = root
    try:
        return graph.load_modules()
    finally:
        graph.PACKAGE = old


def _doc(title: str, *lines: str) -> str:
    return '"""' + title + "\n\n" + "\n".join(lines) + '\n"""\n'


def test_the_checks_catch_a_broken_rule_and_a_circle(tmp_path: Path) -> None:
    fake = _fake(
        tmp_path,
        {
            "__init__.py": _doc("Root.", "May import: asyncexp.core"),
            "core/__init__.py": _doc("Core.", "May import: asyncexp.core"),
            "core/a.py": "from asyncexp.core import b\nimport asyncexp.shell.x\n",
            "core/b.py": "from asyncexp.core.a import thing\n",
            "shell/__init__.py": _doc(
                "Shell.", "May import: asyncexp.core, asyncexp.shell", "Types only: asyncexp.facade"
            ),
            "shell/x.py": (
                "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
                "    from asyncexp.facade import F\n    from asyncexp.other import O\n"
            ),
            "facade/__init__.py": _doc(
                "Facade.", "May import: asyncexp.core", "Never imported by: asyncexp.shell"
            ),
            "other/__init__.py": _doc("Other.", "May import: asyncexp.core"),
        },
    )
    rules = {}
    for module in fake.values():
        if module.is_package and (rule := read_rules(module)) is not None:
            rules[module.name] = rule
    assert rules_for("asyncexp.core.a", rules).wing == "asyncexp.core"
    assert violations(fake, rules) == [
        "asyncexp.core.a imports asyncexp.shell.x (rules of asyncexp.core)",
        "asyncexp.shell.x names asyncexp.other for types (rules of asyncexp.shell)",
        "asyncexp.shell.x imports asyncexp.facade, which it must never import",
    ]
    cycle = find_cycle(fake)
    assert cycle is not None
    assert set(cycle) == {"asyncexp.core.a", "asyncexp.core.b"}
