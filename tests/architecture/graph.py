"""The package's modules and the asyncexp imports each makes, read with ``ast``.

An import inside ``if TYPE_CHECKING:`` is type-only: it never runs, so it counts
for the wing rules (a wing must not even name what it may not import) only
when the rule says so, and never for import circles.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "asyncexp"

__all__ = ["PACKAGE", "Module", "find_cycle", "load_modules"]


@dataclass
class Module:
    name: str
    path: Path
    is_package: bool
    runtime: set[str] = field(default_factory=set)
    type_only: set[str] = field(default_factory=set)


def _module_name(path: Path) -> tuple[str, bool]:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    is_package = parts[-1] == "__init__"
    if is_package:
        parts.pop()
    return ".".join(parts), is_package


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _resolve(module: Module, node: ast.ImportFrom) -> str:
    if node.level == 0:
        return node.module or ""
    base = module.name.split(".")
    if not module.is_package:
        base = base[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join([*base, node.module] if node.module else base)


def _collect(module: Module, body: list[ast.stmt], type_only: bool, known: set[str]) -> None:
    for node in body:
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            _collect(module, node.body, True, known)
            _collect(module, node.orelse, type_only, known)
            continue
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = _resolve(module, node)
            for alias in node.names:
                # ``from pkg import submodule`` imports the submodule.
                sub = f"{base}.{alias.name}"
                targets.append(sub if sub in known else base)
        for target in targets:
            if target == "asyncexp" or target.startswith("asyncexp."):
                (module.type_only if type_only else module.runtime).add(target)
        for child in ast.iter_child_nodes(node):
            # Imports inside functions and classes run too (later, but they run).
            if isinstance(child, ast.stmt) and not isinstance(node, ast.If | ast.Import):
                _collect(module, [child], type_only, known)
        if isinstance(node, ast.If):
            _collect(module, node.body + node.orelse, type_only, known)


def load_modules() -> dict[str, Module]:
    paths = sorted(PACKAGE.rglob("*.py"))
    modules = {}
    for path in paths:
        name, is_package = _module_name(path)
        modules[name] = Module(name, path, is_package)
    known = set(modules)
    for module in modules.values():
        tree = ast.parse(module.path.read_text(encoding="utf-8"))
        _collect(module, tree.body, False, known)
        module.runtime -= {module.name}
        module.type_only -= module.runtime | {module.name}
    return modules


def _edges(modules: dict[str, Module], name: str) -> set[str]:
    """Runtime edges, with ``import a.b.c`` also running ``a`` and ``a.b``."""
    out: set[str] = set()
    for target in modules[name].runtime:
        parts = target.split(".")
        for i in range(1, len(parts) + 1):
            prefix = ".".join(parts[:i])
            if prefix in modules and prefix != name and not name.startswith(prefix + "."):
                out.add(prefix)
    return out


def find_cycle(modules: dict[str, Module]) -> list[str] | None:
    """One runtime import circle as a list of module names, or None."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(name: str) -> list[str] | None:
        state[name] = 1
        stack.append(name)
        for nxt in sorted(_edges(modules, name)):
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt) :], nxt]
            if nxt not in state:
                found = visit(nxt)
                if found:
                    return found
        stack.pop()
        state[name] = 2
        return None

    for name in sorted(modules):
        if name not in state:
            found = visit(name)
            if found:
                return found
    return None
