"""Audience condition trees compiled into closures (behaviour reference §3.1–3.3).

Rules this module implements:

* **Three values.** An evaluator returns True, False or None (UNKNOWN); a rule
  treats UNKNOWN as not qualified (`audience_result`).
* **Trees.** A list whose first element is exactly ``"and"``, ``"or"`` or ``"not"``
  applies it to the rest; any other list is an implicit OR; anything else is a leaf.
  ``and``: any False → False, else any None → None, else True; ``["and"]`` is True.
  ``or`` is the dual; ``["or"]`` is False. ``not`` negates its first operand only;
  ``["not"]`` and ``not None`` are None. Leaves run left to right and stop at the
  first False (and) / True (or).
* **Audience trees** have audience ids as leaves; an id missing from the mapping is
  None. A tree that is None or ``[]`` is always True.
* **Condition trees** have ``{name, value, type, match}`` dicts as leaves. ``type`` is
  ``custom_attribute`` or ``third_party_dimension``; no ``match`` means ``exact``.
  Except for ``exists`` and ``qualified``, a missing or None attribute, or a user
  value of the wrong type, is None. A *finite number* is an int or float, not a bool,
  not NaN/±inf, with ``abs(v) <= 2**53``. Per match (``u`` is the user's value):

  - ``exact``: value a str, bool or finite number; ``u`` of the same class (str, bool,
    finite number; bool never equals a number) and ``u == value``.
  - ``exists``: value ignored; True iff the attribute is present and not None.
  - ``substring``: value a str; ``u`` a str and ``value in u``.
  - ``gt``/``ge``/``lt``/``le``: value a finite number; ``u`` a finite number, ``u > value``…
  - ``semver_eq/gt/ge/lt/le``: value a str; ``compare_versions(value, u)`` ``== 0``,
    ``> 0``, ``>= 0``, ``< 0``, ``<= 0``; None if either version is invalid.
  - ``qualified``: value a str; True iff it is in the qualified segments (False when
    they were never fetched); attributes are not read.

* **Compile-time judgement.** A leaf with an unknown type or match, or a value its
  match cannot use (a semver target that does not parse included), compiles to a
  constant None and appends one warning, in the reference's words, to ``warnings``
  (the reference logs it on every evaluation). Per-call reasons are not reported.
  A leaf without a str ``name`` never sees an attribute (``exists`` is False, the
  rest None) and warns too. Operands after ``not``'s first are not even compiled.
* **Deliberate deviations.** Where the reference raises, the result here is None: an
  empty list in a tree (IndexError), a leaf that is neither dict nor list in an
  audience's conditions (TypeError; it also warns here), a semver comparison it cannot
  convert to int (ValueError, see `asyncexp.core.flags.semver`). Lists nested deeper than
  ``max_depth`` raise `ConfigError` with their path, and so does a leaf dict holding
  lists or dicts nested deeper than ``max_depth`` (leaves are printed with
  ``json.dumps``, which recurses).
* **Purity.** Evaluators never log or mutate, so only results are observable; that
  lets constant operands fold at compile time.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Collection, Mapping
from typing import Any

from asyncexp.core.flags.condition_leaves import compile_leaf
from asyncexp.core.flags.condition_logic import (
    Evaluator,
    Tri,
    always_none,
    always_true,
    audience_result,
    junction,
    negate,
)
from asyncexp.errors import ConfigError

__all__ = ["Evaluator", "Tri", "audience_result", "compile_audience_tree", "compile_condition_tree"]

_OPERATORS = ("and", "or", "not")


# --- trees --------------------------------------------------------------------------


def _nests_deeper(node: Mapping[Any, object], limit: int) -> bool:
    """Whether lists and dicts nest more than ``limit`` levels inside ``node`` (iterative)."""
    for value in node.values():
        if isinstance(value, dict | list):
            break
    else:
        return False  # the usual leaf: only atoms
    stack: list[tuple[object, int]] = [(value, 1) for value in node.values()]
    while stack:
        value, level = stack.pop()
        if isinstance(value, dict):
            children: Collection[object] = value.values()
        elif isinstance(value, list):
            children = value
        else:
            continue
        if level > limit:
            return True
        stack.extend((child, level + 1) for child in children)
    return False


def _compile_tree(
    tree: object, path: str, depth: int, max_depth: int, leaf: Callable[[object], Evaluator]
) -> Evaluator:
    if not isinstance(tree, list):
        # What a leaf holds is printed with json.dumps (warnings, reasons, the config
        # view), which recurses: it is bounded like the lists around it.
        if isinstance(tree, dict) and _nests_deeper(tree, max_depth):
            raise ConfigError(f"condition is nested deeper than {max_depth} levels", path)
        return leaf(tree)
    if depth > max_depth:
        raise ConfigError(f"tree is nested deeper than {max_depth} levels", path)
    if not tree:
        return always_none  # the reference raises IndexError here
    head = tree[0]
    start = 1 if isinstance(head, str) and head in _OPERATORS else 0
    # "not" never looks past its first operand, so neither does the compiler.
    end = min(2, len(tree)) if start and head == "not" else len(tree)
    operands = [
        _compile_tree(tree[i], f"{path}[{i}]", depth + 1, max_depth, leaf)
        for i in range(start, end)
    ]
    if not start:
        return junction(operands, True)  # implicit OR
    if head == "not":
        return negate(operands[0]) if operands else always_none
    return junction(operands, head == "or")


def compile_condition_tree(
    tree: object, path: str, warnings: list[str], *, max_depth: int = 32
) -> Evaluator:
    """Compile an audience's decoded ``conditions`` tree; a bad leaf adds to ``warnings``
    and is None. Raises `ConfigError` (at ``path``) if lists nest past ``max_depth``."""

    def leaf(node: object) -> Evaluator:
        if isinstance(node, dict):
            return compile_leaf(node, warnings)
        warnings.append(f"Audience condition {json.dumps(node, default=repr)} is not a condition.")
        return always_none

    return _compile_tree(tree, path, 1, max_depth, leaf)


def compile_audience_tree(
    tree: object, audiences: Mapping[str, Evaluator], path: str, *, max_depth: int = 32
) -> Evaluator:
    """Compile a rule's ``audienceConditions``/``audienceIds`` tree. Ids resolve now, so
    ``audiences`` must be complete. Raises `ConfigError` if lists nest past ``max_depth``."""
    if tree is None or (isinstance(tree, list) and not tree):
        return always_true

    def leaf(node: object) -> Evaluator:
        found = audiences.get(node) if isinstance(node, str) else None
        return always_none if found is None else found

    return _compile_tree(tree, path, 1, max_depth, leaf)
