"""The wing rules, read from the ``May import:`` lines of each wing's ``__init__.py``.

A module obeys the rules of the nearest package above it that states them;
the root package's rules cover the top-level modules (``client``, ``errors``).
Three lines are read, each a comma-separated list of ``asyncexp…`` names:

* ``May import:`` what its modules may import at run time (a name covers its
  submodules; plain ``asyncexp`` means only the root package's public names);
  ``anything in asyncexp except …`` is also understood;
* ``Types only:`` what may appear only under ``if TYPE_CHECKING:``;
* ``Never imported by:`` who must not import the wing at all (``nothing``, or
  ``any other part of asyncexp except …``).
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass

from tests.architecture.graph import Module

__all__ = ["ENTRY_POINTS", "Rules", "covers", "read_rules", "rules_for", "violations"]

# ``python -m asyncexp`` must run the CLI, the one import of it from outside.
ENTRY_POINTS = {"asyncexp.__main__": {"asyncexp.cli"}}

_NAME = re.compile(r"\basyncexp(?:\.\w+)*")


@dataclass(frozen=True)
class Rules:
    wing: str
    may_import: frozenset[str]
    may_import_all_except: frozenset[str] | None
    types_only: frozenset[str]
    never_imported_by: frozenset[str]
    never_imported_by_all_except: frozenset[str] | None


def covers(prefix: str, name: str) -> bool:
    if prefix == "asyncexp":
        return name == "asyncexp"
    return name == prefix or name.startswith(prefix + ".")


def _field(doc: str, label: str) -> str | None:
    # A field runs from its label to the next blank line or label.
    match = re.search(rf"^{label}:(.*?)(?=^\S[^\n]*:|\n\s*\n|\Z)", doc, re.M | re.S)
    return " ".join(match.group(1).split()) if match else None


def read_rules(module: Module) -> Rules | None:
    doc = ast.get_docstring(ast.parse(module.path.read_text(encoding="utf-8"))) or ""
    may = _field(doc, "May import")
    if may is None:
        return None
    types = _field(doc, "Types only") or ""
    never = _field(doc, "Never imported by") or "nothing"
    may_all = None
    if may.startswith("anything in asyncexp"):
        may_all = frozenset(_NAME.findall(may.partition("except")[2]))
    never_all = None
    if never.startswith("any other part of asyncexp"):
        never_all = frozenset(_NAME.findall(never.partition("except")[2]))
    return Rules(
        wing=module.name,
        may_import=frozenset(_NAME.findall(may)) if may_all is None else frozenset(),
        may_import_all_except=may_all,
        types_only=frozenset(_NAME.findall(types)),
        never_imported_by=frozenset()
        if never.startswith(("nothing", "any other"))
        else frozenset(_NAME.findall(never)),
        never_imported_by_all_except=never_all,
    )


def rules_for(name: str, rules: dict[str, Rules]) -> Rules:
    parts = name.split(".")
    for i in range(len(parts), 0, -1):
        found = rules.get(".".join(parts[:i]))
        if found is not None:
            return found
    raise LookupError(name)


def _may(rule: Rules, target: str) -> bool:
    if covers(rule.wing, target):
        return True
    if rule.may_import_all_except is not None:
        return not any(covers(p, target) for p in rule.may_import_all_except)
    return any(covers(p, target) for p in rule.may_import)


def violations(modules: dict[str, Module], rules: dict[str, Rules]) -> list[str]:
    found: list[str] = []
    for module in modules.values():
        rule = rules_for(module.name, rules)
        extra = ENTRY_POINTS.get(module.name, set())
        for target in sorted(module.runtime):
            if not _may(rule, target) and not any(covers(p, target) for p in extra):
                found.append(f"{module.name} imports {target} (rules of {rule.wing})")
        for target in sorted(module.type_only):
            if not _may(rule, target) and not any(covers(p, target) for p in rule.types_only):
                found.append(f"{module.name} names {target} for types (rules of {rule.wing})")
        for target in sorted(module.runtime | module.type_only):
            wing = rules_for(target, rules) if target in modules else None
            if wing is None or covers(wing.wing, module.name):
                continue
            banned = any(covers(p, module.name) for p in wing.never_imported_by)
            if wing.never_imported_by_all_except is not None:
                banned = not any(covers(p, module.name) for p in wing.never_imported_by_all_except)
            if banned:
                found.append(f"{module.name} imports {target}, which it must never import")
    return found
