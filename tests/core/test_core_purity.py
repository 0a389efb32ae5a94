"""The core stays pure: no I/O, clock, randomness, threads or logging under asyncexp/core."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

CORE = Path(__file__).resolve().parents[2] / "asyncexp" / "core"
FORBIDDEN = {
    "asyncio",
    "aiohttp",
    "logging",
    "time",
    "random",
    "threading",
    "socket",
    "subprocess",
    "os",
    "io",
    "pathlib",
    "shutil",
    "tempfile",
    "multiprocessing",
    "concurrent",
    "uuid",
    "datetime.datetime.now",
}
FORBIDDEN_CALLS = {"open", "input", "print", "exec", "eval", "__import__"}


def _modules() -> list[Path]:
    return sorted(CORE.rglob("*.py"))


def _imported(tree: ast.AST) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def test_core_has_modules() -> None:
    assert len(_modules()) >= 8


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(CORE)))
def test_core_module_imports_nothing_impure(path: Path) -> None:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    bad = {name for name in _imported(tree) if name.split(".")[0] in FORBIDDEN}
    assert not bad, f"{path.name} imports {sorted(bad)}"
    calls = {
        node.func.id
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
    }
    assert not calls & FORBIDDEN_CALLS, f"{path.name} calls {sorted(calls & FORBIDDEN_CALLS)}"


def test_core_imports_only_allowed_packages() -> None:
    allowed_third_party = {"mmh3", "orjson", "asyncexp"}
    import sys

    stdlib = set(sys.stdlib_module_names)
    for path in _modules():
        for name in _imported(ast.parse(path.read_text(encoding="utf-8"))):
            top = name.split(".")[0]
            assert top in stdlib or top in allowed_third_party or top == "__future__", (
                f"{path.name} imports {name}"
            )
            if top == "asyncexp":
                assert name.startswith(("asyncexp.core", "asyncexp.errors")), (
                    f"{path.name} imports {name} from outside the core"
                )


def test_the_check_catches_an_impure_module(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("import time\nfrom asyncio import sleep\n", encoding="utf-8")
    names = _imported(ast.parse(bad.read_text(encoding="utf-8")))
    assert {n.split(".")[0] for n in names} & FORBIDDEN == {"time", "asyncio"}
