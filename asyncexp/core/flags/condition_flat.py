"""Compiled condition evaluators flattened into one generated function.

An audience check compiled by :mod:`asyncexp.core.flags.conditions` is a tree of
small closures (and/or/not over leaves), one Python call per node. ``flatten``
turns such a tree into a single function doing the same tests inline, about twice
as fast. Rules:

* **Same results.** Each closure kind is recognised by its code object and
  re-emitted as statements with exactly its tests, in its order, with the same
  short-circuits (the closures are pure, so only results are observable). A node
  it does not recognise is called as it is.
* **No datafile text becomes source.** The source is made only of this module's
  templates, names it generates (``c0``, ``r3``) and operators from a fixed table;
  every name, value and sub-evaluator from the datafile is passed in the function's
  namespace. The same shape of tree gives the same source, compiled once (bounded
  cache).
* **Bounded.** Trees with more than ``MAX_NODES`` nodes or junctions nested more
  than ``MAX_NESTING`` deep are left as they are, as is anything the compiler
  refuses.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Collection, Mapping
from types import FunctionType
from typing import Any

from asyncexp.core.flags import condition_leaves as leaves
from asyncexp.core.flags import condition_logic as logic
from asyncexp.core.flags.condition_logic import Evaluator, always_false, always_none, always_true
from asyncexp.core.flags.semver import compare_to

__all__ = ["MAX_NESTING", "MAX_NODES", "flatten"]

MAX_NODES = 200
MAX_NESTING = 12  # each junction is a loop block; CPython allows 20 nested blocks
_CACHE_LIMIT = 512


def _code(fn: Callable[..., Any]) -> Any:
    return fn.__code__


def _sample_codes() -> dict[Any, str]:
    def leaf(attributes: Mapping[str, object], segments: Collection[str] | None) -> bool | None:
        return None

    return {
        _code(leaves._exact("n", "v")): "exact_str",
        _code(leaves._exact("n", True)): "exact_bool",
        _code(leaves._exists("n")): "exists",
        _code(leaves._substring("n", "v")): "substring",
        _code(leaves._numeric("n", operator.gt, 1)): "numeric",
        _code(leaves._semver("n", "semver_eq", "1.0.0") or leaf): "semver",
        _code(leaves._qualified("v")): "qualified",
        _code(logic._junction_two(leaf, leaf, True)): "two",
        _code(logic._junction_many((leaf, leaf, leaf), True)): "many",
        _code(logic.junction([leaf, always_none], True)): "capped",
        _code(logic.negate(leaf)): "negate",
    }


_KINDS = _sample_codes()
_OPERATORS = {
    operator.gt: ">",
    operator.ge: ">=",
    operator.lt: "<",
    operator.le: "<=",
    operator.eq: "==",
}
_BASE_NAMESPACE: dict[str, Any] = {
    "__builtins__": {},
    "isinstance": isinstance,
    "str": str,
    "int": int,
    "float": float,
    "bool": bool,
    "_NUM": (int, float),
    "_MAX": 2**53,
    "_compare_to": compare_to,
}
_compiled: dict[str, Any] = {}  # source → code object


def _cells(fn: Callable[..., Any]) -> dict[str, Any]:
    code = fn.__code__
    closure = fn.__closure__ or ()
    return {name: cell.cell_contents for name, cell in zip(code.co_freevars, closure, strict=True)}


class _TooBig(Exception):  # noqa: N818 - internal signal: leave the tree as it is
    pass


class _Writer:
    def __init__(self) -> None:
        self.lines: list[str] = []
        self.namespace: dict[str, Any] = {}
        self.constants: dict[int, str] = {}
        self.results = 0
        self.nodes = 0

    def const(self, value: object) -> str:
        """The generated name under which ``value`` is in the namespace."""
        if value is None or value is True or value is False:
            return repr(value)  # only these three literals are ever written
        name = self.constants.get(id(value))
        if name is None:
            name = self.constants[id(value)] = f"c{len(self.constants)}"
            self.namespace[name] = value
        return name

    def result(self) -> str:
        name = f"r{self.results}"
        self.results += 1
        return name

    def emit(self, indent: int, line: str) -> None:
        self.lines.append("    " * indent + line)

    def node(self, fn: Evaluator, indent: int, nesting: int) -> str:
        """Emit statements computing ``fn``'s result; returns the variable holding it."""
        self.nodes += 1
        if self.nodes > MAX_NODES or nesting > MAX_NESTING:
            raise _TooBig
        out = self.result()
        if fn is always_true or fn is always_false or fn is always_none:
            self.emit(indent, f"{out} = {fn is always_true if fn is not always_none else None}")
            return out
        kind = _KINDS.get(getattr(fn, "__code__", None))
        cells = _cells(fn) if kind is not None else {}
        e = self.emit
        if kind == "exact_str":
            e(indent, f"u = get({self.const(cells['name'])})")
            value = self.const(cells["value"])
            e(indent, f"{out} = (u == {value}) if isinstance(u, str) else None")
        elif kind == "exact_bool":
            e(indent, f"u = get({self.const(cells['name'])})")
            value = self.const(cells["value"])
            e(indent, f"{out} = (u is {value}) if u is True or u is False else None")
        elif kind == "exists":
            e(indent, f"{out} = get({self.const(cells['name'])}) is not None")
        elif kind == "substring":
            e(indent, f"u = get({self.const(cells['name'])})")
            value = self.const(cells["value"])
            e(indent, f"{out} = ({value} in u) if isinstance(u, str) else None")
        elif kind == "numeric" and cells["compare"] in _OPERATORS:
            symbol = _OPERATORS[cells["compare"]]
            e(indent, f"u = get({self.const(cells['name'])})")
            e(indent, "k = u.__class__")
            e(
                indent,
                f"{out} = (u {symbol} {self.const(cells['value'])}) if (k is int or k is float "
                "or (k is not bool and isinstance(u, _NUM))) and (-_MAX <= u <= _MAX) else None",
            )
        elif kind == "semver":
            e(indent, f"u = get({self.const(cells['name'])})")
            e(indent, "if isinstance(u, str):")
            e(indent + 1, f"s = _compare_to({self.const(cells['target'])}, u)")
            e(indent + 1, f"{out} = None if s is None else s in {self.const(cells['accept'])}")
            e(indent, "else:")
            e(indent + 1, f"{out} = None")
        elif kind == "qualified":
            e(indent, f"{out} = segments is not None and {self.const(cells['value'])} in segments")
        elif kind == "two" or kind == "many":
            operands = (cells["first"], cells["second"]) if kind == "two" else cells["operands"]
            self.junction(out, tuple(operands), cells["stop"], indent, nesting)
        elif kind == "capped":
            inner = self.node(cells["inner"], indent, nesting)
            stop = self.const(cells["stop"])
            e(indent, f"{out} = {stop} if {inner} is {stop} else None")
        elif kind == "negate":
            inner = self.node(cells["operand"], indent, nesting)
            e(indent, f"{out} = None if {inner} is None else not {inner}")
        else:  # not one of ours (or an operator outside the table): call it
            e(indent, f"{out} = {self.const(fn)}(attributes, segments)")
        return out

    def junction(
        self, out: str, operands: tuple[Evaluator, ...], stop: bool, indent: int, nesting: int
    ) -> None:
        """``_junction_two``/``_junction_many``: the first operand that is ``stop`` decides;
        else UNKNOWN if any operand was, else ``not stop``."""
        e = self.emit
        s = self.const(stop)
        unknown = self.result()
        e(indent, f"{unknown} = False")
        e(indent, "while True:")
        for operand in operands:
            r = self.node(operand, indent + 1, nesting + 1)
            e(indent + 1, f"if {r} is {s}:")
            e(indent + 2, f"{out} = {s}")
            e(indent + 2, "break")
            e(indent + 1, f"if {r} is None:")
            e(indent + 2, f"{unknown} = True")
        e(indent + 1, f"{out} = None if {unknown} else {self.const(not stop)}")
        e(indent + 1, "break")


def flatten(fn: Evaluator) -> Evaluator:
    """``fn`` as one generated function, or ``fn`` itself when it is a single leaf, a
    constant, not one of ours, or too big (see the module docstring)."""
    if getattr(fn, "__code__", None) is None or _KINDS.get(fn.__code__) not in (
        "two",
        "many",
        "capped",
        "negate",
    ):
        return fn
    writer = _Writer()
    try:
        result = writer.node(fn, 1, 0)
    except _TooBig:
        return fn
    source = "\n".join(
        [
            "def flat(attributes, segments):",
            "    get = attributes.get",
            *writer.lines,
            f"    return {result}",
        ]
    )
    code = _compiled.get(source)
    if code is None:
        try:
            module = compile(source, "<asyncexp.condition_flat>", "exec")
        except (SyntaxError, RecursionError, MemoryError, ValueError):
            return fn
        code = next(c for c in module.co_consts if hasattr(c, "co_code"))
        if len(_compiled) >= _CACHE_LIMIT:
            _compiled.clear()
        _compiled[source] = code
    namespace = {**_BASE_NAMESPACE, **writer.namespace}
    flat: Evaluator = FunctionType(code, namespace)  # a plain function over that namespace
    return flat
