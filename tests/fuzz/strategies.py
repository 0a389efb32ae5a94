"""Strategies shared by the fuzz tests: JSON-ish values, hostile scalars, document mutations."""

from __future__ import annotations

import copy
import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hypothesis import note
from hypothesis import strategies as st

import asyncexp
from tests.datafiles import base_datafile, holdout

__all__ = [
    "BIG_NUMBERS",
    "EXAMPLE_DATAFILE",
    "WEIRD_TEXT",
    "Mutated",
    "big_numbers",
    "datafile_with_holdouts",
    "deep",
    "deep_text",
    "hostile_scalars",
    "json_values",
    "mutated",
    "mutated_bytes",
    "mutated_documents",
    "named",
    "seed_datafiles",
    "weird_text",
]

EXAMPLE_DATAFILE: dict[str, Any] = json.loads(
    (Path(asyncexp.__file__).parent / "data" / "example_datafile.json").read_text()
)


def named(values: dict[str, Any]) -> st.SearchStrategy[Any]:
    """One of ``values``, drawn by name: long values would make every failure report
    (which prints the strategy) unreadable, and ints past 4300 digits cannot be printed."""
    return st.sampled_from(sorted(values)).map(values.__getitem__)


# Numbers at and around every boundary a parser might mishandle: 2**53 (exact floats),
# 64-bit ints (orjson), float overflow. Ints past the 4300-digit str conversion limit
# have their own explicit tests: hypothesis cannot print them in a failure report.
_BIG_NUMBERS: dict[str, Any] = {
    "2**53": 2**53,
    "2**53+1": 2**53 + 1,
    "-2**53-1": -(2**53) - 1,
    "2**63-1": 2**63 - 1,
    "2**63": 2**63,
    "2**64": 2**64,
    "-2**63-1": -(2**63) - 1,
    "10**30": 10**30,
    "10**400": 10**400,
    "1e308": 1e308,
    "-1e308": -1e308,
    "5e-324": 5e-324,
    "-0.0": -0.0,
    "nan": math.nan,
    "inf": math.inf,
    "-inf": -math.inf,
}
BIG_NUMBERS = tuple(_BIG_NUMBERS.values())


def big_numbers() -> st.SearchStrategy[Any]:
    return named(_BIG_NUMBERS)


# Long values go by a short name, so a strategy's repr (printed with every failure) stays short.
_WEIRD_TEXT: dict[str, str] = {
    "empty": "",
    "space": " ",
    "nul": "\x00",
    "lone surrogate": "\ud800",  # not encodable as UTF-8
    "rtl override": "\u202e",
    "accents": "é" * 3,
    "5000 digits": "9" * 5000,
    "4301 digits and a fraction": "1" * 4301 + ".5",
    "1e999": "1e999",
    "NaN": "NaN",
    "null": "null",
    "50 brackets": "[" * 50,
    "open object": '{"a":',
    "and": "and",
    "or": "or",
    "not": "not",
    "exact": "exact",
    "qualified": "qualified",
    "custom_attribute": "custom_attribute",
    "semver": "1.2.3-beta+build",
    "superscript two": "²",
}
WEIRD_TEXT = tuple(_WEIRD_TEXT.values())


def weird_text() -> st.SearchStrategy[str]:
    return named(_WEIRD_TEXT)


def hostile_scalars() -> st.SearchStrategy[Any]:
    """Scalars a JSON decoder (or a caller's dict) can produce, plus the edge cases."""
    return st.one_of(
        st.none(),
        st.booleans(),
        st.integers(),
        st.integers(min_value=-(2**64), max_value=2**64),
        st.floats(),
        st.text(max_size=20),
        big_numbers(),
        weird_text(),
    )


def json_values(
    scalars: st.SearchStrategy[Any] | None = None, max_leaves: int = 20
) -> st.SearchStrategy[Any]:
    """Nested lists and str-keyed dicts of ``scalars`` (hostile ones by default)."""
    base = scalars if scalars is not None else hostile_scalars()
    return st.recursive(
        base,
        lambda inner: st.one_of(
            st.lists(inner, max_size=5),
            st.dictionaries(
                st.one_of(st.text(max_size=8), st.sampled_from(_KEYS)), inner, max_size=5
            ),
        ),
        max_leaves=max_leaves,
    )


def deep(levels: int, kind: str = "list", leaf: Any = 1) -> Any:
    """``levels`` nested lists (``[[[…]]]``) or dicts (``{"a": {"a": …}}``), built iteratively."""
    value = leaf
    for _ in range(levels):
        value = [value] if kind == "list" else {"a": value}
    return value


def deep_text(levels: int, kind: str = "list", leaf: str = "1") -> str:
    if kind == "list":
        return "[" * levels + leaf + "]" * levels
    return '{"a":' * levels + leaf + "}" * levels


# Keys the parsers look up, so random dicts sometimes hit real code paths.
_KEYS = (
    "version",
    "id",
    "key",
    "value",
    "name",
    "type",
    "match",
    "conditions",
    "audienceConditions",
    "audienceIds",
    "variations",
    "trafficAllocation",
    "entityId",
    "endOfRange",
    "experiments",
    "rolloutId",
    "experimentIds",
    "featureEnabled",
    "variables",
    "defaultValue",
    "status",
    "layerId",
    "integrations",
    "host",
    "publicKey",
    "data",
    "customer",
    "audiences",
    "edges",
    "node",
    "state",
    "errors",
    "extensions",
    "code",
    "classification",
)


def datafile_with_holdouts() -> dict[str, Any]:
    """The test builder's datafile with a global and a local holdout and an ``fr`` rule."""
    doc = base_datafile()
    doc["holdouts"] = [holdout("ho_1", "global_ho", traffic=500)]
    doc["localHoldouts"] = [holdout("ho_2", "local_ho", includedRules=["exp_checkout"])]
    doc["experiments"][0]["type"] = "fr"
    return doc


def _example_datafile() -> dict[str, Any]:
    return copy.deepcopy(EXAMPLE_DATAFILE)


_SEEDS: dict[str, Callable[[], dict[str, Any]]] = {
    "base": base_datafile,
    "holdouts": datafile_with_holdouts,
    "example": _example_datafile,
}


def seed_datafiles() -> st.SearchStrategy[dict[str, Any]]:
    """Valid datafiles to mutate: the test builder (with holdouts) and the bundled example."""
    return st.sampled_from(sorted(_SEEDS)).map(lambda name: _SEEDS[name]())


# -- mutations ---------------------------------------------------------------------------

Path_ = tuple[Any, ...]


def _retype(value: Any) -> Any:
    """A value of another JSON type that still looks related."""
    if isinstance(value, bool):
        return "true" if value else 0
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, str):
        try:
            return json.loads(value)  # "[...]" conditions text → the list itself
        except ValueError:
            return [value]
    if isinstance(value, list):
        return {str(i): v for i, v in enumerate(value)}
    if isinstance(value, dict):
        return list(value.values())
    return {}


Op = Callable[[Any, Any], Any]


def _ops(draw: st.DrawFn) -> tuple[str, Any]:
    op = draw(
        st.sampled_from(
            ["delete", "replace", "retype", "null", "empty", "wrap", "nest", "big", "dup", "text"]
        )
    )
    if op == "replace":
        return op, draw(json_values(max_leaves=8))
    if op == "nest":
        return op, draw(st.sampled_from([31, 32, 33, 100, 1000, 1100, 10_000]))
    if op == "big":
        return op, draw(big_numbers())
    if op == "text":
        return op, draw(weird_text())
    return op, None


def _apply(doc: Any, path: Path_, op: str, arg: Any) -> None:
    parent = doc
    for step in path[:-1]:
        parent = parent[step]
    last = path[-1]
    old = parent[last]
    if op == "delete":
        del parent[last]
        return
    new: Any
    if op in ("replace", "big", "text"):
        new = arg
    elif op == "retype":
        new = _retype(old)
    elif op == "null":
        new = None
    elif op == "empty":
        new = type(old)() if isinstance(old, list | dict | str) else []
    elif op == "wrap":
        new = [old]
    elif op == "nest":
        new = deep(arg, "list" if isinstance(old, list) else "dict", old)
    else:  # dup: the container gets a second copy of this item / key
        if isinstance(parent, list):
            parent.insert(last, copy.deepcopy(old))
            return
        new = old
    parent[last] = new


class Mutated:
    """A mutated document. Its repr is a summary: hypothesis prints every argument of a
    failing example, and a 10,000-level value would crash its printer. The mutations
    themselves are in the report, one ``note`` each."""

    __slots__ = ("doc", "mutations")

    def __init__(self, doc: Any, mutations: list[str]) -> None:
        self.doc = doc
        self.mutations = mutations

    def __repr__(self) -> str:
        return f"<document with {len(self.mutations)} mutation(s): {'; '.join(self.mutations)}>"


@st.composite
def mutated(
    draw: st.DrawFn, seeds: st.SearchStrategy[Any] | None = None, max_mutations: int = 3
) -> Mutated:
    """A valid document with 1–``max_mutations`` random edits anywhere in its tree.

    Half of the edits hit a field of an entity (a flag, rule, variation, audience,
    event, integration…), the other half a random walk from the root: a uniform pick
    among all paths would almost never touch a flag field, and a walk alone spends
    most edits on the top-level keys, which just make the document invalid early.
    """
    doc = draw(seeds if seeds is not None else seed_datafiles())
    mutations: list[str] = []
    for _ in range(draw(st.integers(1, max_mutations))):
        path = _entity_field(draw, doc) if draw(st.booleans()) else _walk(draw, doc)
        if not path:
            continue
        op, arg = _ops(draw)
        _apply(doc, path, op, arg)
        mutations.append(
            f"{op} at {_show(path)}" + (f" with {_brief(arg)}" if arg is not None else "")
        )
        note(f"mutation: {mutations[-1]}")
    return Mutated(doc, mutations)


def mutated_documents(
    seeds: st.SearchStrategy[Any] | None = None, max_mutations: int = 3
) -> st.SearchStrategy[Any]:
    """The mutated document itself (for strategies that transform it further)."""
    return mutated(seeds, max_mutations).map(lambda m: m.doc)


def _show(path: Path_) -> str:
    return "".join(f"[{step}]" if isinstance(step, int) else f".{step}" for step in path)


def _brief(value: Any) -> str:
    try:
        text = repr(value)
    except ValueError:
        return "<an int too long to show>"
    return text if len(text) <= 200 else text[:200] + "…"


def _entities(doc: Any) -> list[tuple[Path_, dict[str, Any]]]:
    """Dicts with an ``id`` or ``key`` (the datafile's entities), iteratively."""
    out: list[tuple[Path_, dict[str, Any]]] = []
    stack: list[tuple[Path_, Any]] = [((), doc)]
    while stack:
        path, node = stack.pop()
        if isinstance(node, dict):
            if path and ("id" in node or "key" in node):
                out.append((path, node))
            stack.extend(((*path, k), v) for k, v in node.items() if isinstance(v, dict | list))
        elif isinstance(node, list):
            stack.extend(((*path, i), v) for i, v in enumerate(node) if isinstance(v, dict | list))
    out.sort(key=lambda item: repr(item[0]))  # the stack order is not stable across edits
    return out


def _entity_field(draw: st.DrawFn, doc: Any) -> Path_:
    entities = _entities(doc)
    if not entities:
        return ()
    path, entity = entities[draw(st.integers(0, len(entities) - 1))]
    keys = sorted(entity)
    if draw(st.integers(0, 7)) == 0:  # sometimes a key the entity does not have yet
        key = draw(st.sampled_from(_KEYS))
        entity.setdefault(key, None)
        return (*path, key)
    return (*path, keys[draw(st.integers(0, len(keys) - 1))])


def _walk(draw: st.DrawFn, doc: Any) -> Path_:
    """A random walk from the root that stops at each level with probability about 1/5."""
    path: Path_ = ()
    node = doc
    while isinstance(node, dict | list) and node:
        keys = list(node) if isinstance(node, dict) else list(range(len(node)))
        if not path:  # a bad version stops the parser at once (tested elsewhere)
            keys = [k for k in keys if k != "version"] or keys
        key = keys[draw(st.integers(0, len(keys) - 1))]
        path = (*path, key)
        node = node[key]
        if not isinstance(node, dict | list) or not node or draw(st.integers(0, 4)) == 0:
            break
    return path


@st.composite
def mutated_bytes(draw: st.DrawFn, seeds: st.SearchStrategy[dict[str, Any]] | None = None) -> bytes:
    """The JSON bytes of a valid datafile with byte-level damage (non-UTF-8 included)."""
    doc = draw(seeds if seeds is not None else seed_datafiles())
    data = bytearray(json.dumps(doc).encode())
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, len(data)))
        op = draw(st.sampled_from(["insert", "flip", "truncate", "splice", "delete"]))
        if op == "insert":
            data[at:at] = draw(
                st.one_of(
                    named(
                        {
                            "ff": b"\xff",
                            "lone lead byte": b"\xc3",
                            "encoded surrogate": b"\xed\xa0\x80",
                            "nul": b"\x00",
                            "NaN": b"NaN",
                            "1e999": b"1e999",
                            "2000 brackets": b"[" * 2000,
                        }
                    ),
                    st.binary(min_size=1, max_size=8),
                )
            )
        elif op == "flip" and at < len(data):
            data[at] ^= 1 << draw(st.integers(0, 7))
        elif op == "truncate":
            del data[at:]
        elif op == "splice":
            end = draw(st.integers(at, min(len(data), at + 64)))
            data[at:at] = data[at:end]
        elif op == "delete":
            del data[at : at + draw(st.integers(1, 16))]
    return bytes(data)
