"""Syntax tree of the AppConfig rule language and the limits on its size."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

__all__ = [
    "MAX_DEPTH",
    "MAX_NODES",
    "MAX_RULE_LENGTH",
    "Call",
    "ContextRef",
    "ListLiteral",
    "Literal",
    "LiteralKind",
    "LiteralValue",
    "Node",
]

MAX_RULE_LENGTH = 16384  # the service's Rule shape allows 1–16384 characters
MAX_DEPTH = 32
MAX_NODES = 4096

LiteralValue = str | int | float | bool | datetime
LiteralKind = str  # "string" | "integer" | "float" | "boolean" | "timestamp"


@dataclass(frozen=True, slots=True)
class Literal:
    """A constant operand."""

    value: LiteralValue
    kind: LiteralKind
    position: int


@dataclass(frozen=True, slots=True)
class ContextRef:
    """``$key``: a value looked up in the evaluation context."""

    key: str
    position: int


@dataclass(frozen=True, slots=True)
class ListLiteral:
    """``[item, …]`` of literals."""

    items: tuple[Literal, ...]
    position: int


@dataclass(frozen=True, slots=True)
class Call:
    """``(op positional… name::value…)``; ``position`` is the ``(``."""

    op: str
    op_position: int
    args: tuple[Node, ...]
    named: tuple[tuple[str, Node], ...]
    position: int


Node = Literal | ContextRef | ListLiteral | Call
