"""Closure types of compiled rules and the compiler state its operator mixins share."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from asyncexp.core.appconfig.rule_syntax import Call, Node
from asyncexp.errors import RuleSyntaxError

__all__ = ["MAX_MATCHES_PER_RULE", "CompilerBase", "Context", "Evaluator", "Getter"]

# each matches clause scans its whole value (up to 4096 characters, ~0.1–0.3 ms):
# capping them per rule is what keeps one rule's evaluation within ~2 ms
MAX_MATCHES_PER_RULE = 8

Context = Mapping[str, Any]
Evaluator = Callable[[Context], bool | None]
Getter = Callable[[Context], Any]


class CompilerBase:
    """Path, default seed, referenced keys and argument checks; ``rule_eval`` adds ``getter``."""

    __slots__ = ("default_seed", "path", "refs", "regexes")

    def __init__(self, path: str, default_seed: str) -> None:
        self.path = path
        self.default_seed = default_seed
        self.refs: set[str] = set()
        self.regexes = 0  # matches clauses so far, against MAX_MATCHES_PER_RULE

    def error(self, message: str, position: int) -> RuleSyntaxError:
        return RuleSyntaxError(message, position, self.path)

    # -- structure helpers

    def positional(self, call: Call, count: int) -> tuple[Node, ...]:
        if call.named:
            name = call.named[0][0]
            raise self.error(f"{call.op} takes no named argument {name}::", call.position)
        if len(call.args) != count:
            raise self.error(
                f"{call.op} takes {count} argument(s), got {len(call.args)}", call.position
            )
        return call.args

    def getter(self, node: Node, op: str) -> Getter:
        """A function returning the operand's value, or None when unknown."""
        raise NotImplementedError  # the compiler in rule_eval implements it

    def named_args(self, call: Call, allowed: tuple[str, ...]) -> dict[str, Node]:
        args = dict(call.named)
        for name in args:
            if name not in allowed:
                raise self.error(f"{call.op} has no argument {name}::", call.position)
        return args
