"""Audiences of the project-config view: the audience list and the rule audience strings.

Rules (facts from optimizely-sdk 5.7.0's ``OptimizelyConfig``, reference §8):

* The audience list holds every ``typedAudiences`` entry first, in datafile
  order, then every legacy ``audiences`` entry whose id is not a typed one and
  is not the ``$opt_dummy_audience`` placeholder. ``conditions`` is always
  text: legacy conditions as the datafile wrote them, typed conditions
  serialised with ``json.dumps`` defaults (``", "`` and ``": "`` separators).
* A rule's audience string renders the tree the decision logic evaluates:
  audience ids become their names (an unknown id stays as the id), each in
  double quotes and inserted verbatim; ``and``/``or``/``not`` are written in
  upper case between operands; a nested list is wrapped in parentheses; a list
  without a leading operator is an implicit OR; an empty list, or an operator
  with no operand, renders as ``''``.

Deliberate differences from the reference's rendering (every row of the §8
table renders identically):

* The tree rendered is ``audienceConditions`` when present and not null, else
  ``audienceIds``; the reference uses ``audienceConditions`` only, so a rule
  targeted through ``audienceIds`` alone shows ``''`` there although it is
  targeted.
* The output is always well formed. The reference drops the operator after a
  nested list that is followed by two or more operands
  (``("A" OR "B") "C" AND "D"``), prefixes a lone nested operand with a
  dangling operator (``AND ("A" OR "B")`` for ``["and", ["or", …]]``), and
  raises on a one-item list holding a list; here these render as
  ``("A" OR "B") AND "C" AND "D"``, ``("A" OR "B")`` and ``("A" OR "B")``.
* As in evaluation, ``not`` uses its first operand only, an operator word
  after the first position is an (unknown) audience id, and a bare string
  tree is one audience id; the reference renders these mechanically
  (``"A" NOT "B"``, or one quoted id per character of a string).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

__all__ = ["AudienceView", "KeyedView", "build_audience_views", "render_audiences"]

_OPERATORS = ("and", "or", "not")
_DUMMY_AUDIENCE = "$opt_dummy_audience"  # a placeholder id, never a real audience


class KeyedView:
    """Read access by the object model's camelCase keys (``config['featuresMap']``,
    ``variation['featureEnabled']``), as the Eyeofcloud/Optimizely pages read the
    config, next to the snake_case attributes. A key gives the attribute's value
    itself (views, read-only mappings, tuples), so reads chain; an unknown key
    raises ``KeyError``. ``keys()``, ``get``, ``in`` and iteration (over the keys)
    work as on a dict; ``to_dict()`` still gives fresh plain dicts."""

    __slots__ = ()
    _KEYS: ClassVar[Mapping[str, str]] = {}  # camelCase key → attribute name

    def __getitem__(self, key: str) -> Any:
        name = self._KEYS.get(key) if isinstance(key, str) else None
        if name is None:
            raise KeyError(key)
        return getattr(self, name)

    def get(self, key: str, default: Any = None) -> Any:
        try:
            return self[key]
        except KeyError:
            return default

    def keys(self) -> list[str]:
        return list(self._KEYS)

    def __iter__(self) -> Iterator[str]:
        return iter(self._KEYS)

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and key in self._KEYS


@dataclass(frozen=True, slots=True)
class AudienceView(KeyedView):
    id: str
    name: str
    conditions: str

    _KEYS: ClassVar[Mapping[str, str]] = {"id": "id", "name": "name", "conditions": "conditions"}

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "conditions": self.conditions}


def build_audience_views(raw: Mapping[str, Any]) -> tuple[AudienceView, ...]:
    """The audience list, read from the decoded datafile (which the parser validated)."""
    out: list[AudienceView] = []
    typed_ids: set[str] = set()
    for item in raw.get("typedAudiences") or ():
        out.append(AudienceView(item["id"], item["name"], json.dumps(item.get("conditions"))))
        typed_ids.add(item["id"])
    for item in raw.get("audiences") or ():
        if item["id"] not in typed_ids and item["id"] != _DUMMY_AUDIENCE:
            out.append(AudienceView(item["id"], item["name"], item["conditions"]))
    return tuple(out)


def render_audiences(tree: Any, names: Mapping[str, str]) -> str:
    """Render a rule's audience tree (``Rule.audience_tree``) with audience names."""
    if tree is None:
        return ""
    if not isinstance(tree, list):
        return _leaf(tree, names)
    head = tree[0] if tree else None
    if isinstance(head, str) and head in _OPERATORS:
        operands = tree[1:2] if head == "not" else tree[1:]
        if not operands:
            return ""
        if head == "not":
            return f"NOT {_operand(operands[0], names)}"
        joiner = f" {head.upper()} "
    else:
        operands, joiner = tree, " OR "
    return joiner.join(_operand(node, names) for node in operands)


def _operand(node: Any, names: Mapping[str, str]) -> str:
    # Nested lists are always parenthesised, even with a single operand: ("A") AND ("B").
    if isinstance(node, list):
        return f"({render_audiences(node, names)})"
    return _leaf(node, names)


def _leaf(node: Any, names: Mapping[str, str]) -> str:
    if isinstance(node, str):
        return f'"{names.get(node, node)}"'
    return f'"{json.dumps(node)}"'  # not an id at all: evaluation treats it as unknown
