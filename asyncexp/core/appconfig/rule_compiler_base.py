"""Closure types of compiled rules and ``CompilerState``, what operator compilers share.

Each operator is compiled by a plain function ``(state, call, operand) ->
Evaluator`` (``rule_comparisons``, ``rule_key_operators``): ``state`` is the
one ``CompilerState`` of the rule being compiled, and ``operand`` is the
compiler's callback that turns an argument node into a ``Getter`` (it may
compile a nested call, so it lives in ``rule_eval``, which owns the dispatch).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from asyncexp.core.appconfig.rule_syntax import Call, Node
from asyncexp.errors import RuleSyntaxError

__all__ = [
    "MAX_MATCHES_PER_RULE",
    "CompilerState",
    "Context",
    "Evaluator",
    "Getter",
    "Operand",
    "OperatorCompiler",
]

# each matches clause scans its whole value (up to 4096 characters, ~0.1–0.3 ms):
# capping them per rule is what keeps one rule's evaluation within ~2 ms
MAX_MATCHES_PER_RULE = 8

Context = Mapping[str, Any]
Evaluator = Callable[[Context], bool | None]
Getter = Callable[[Context], Any]
Operand = Callable[[Node, str], Getter]  # (argument node, operator name) → its getter


class CompilerState:
    """Path, default seed, referenced keys, matches count and argument checks of one rule."""

    __slots__ = ("default_seed", "path", "refs", "regexes")

    def __init__(self, path: str, default_seed: str) -> None:
        self.path = path
        self.default_seed = default_seed
        self.refs: set[str] = set()
        self.regexes = 0  # matches clauses so far, against MAX_MATCHES_PER_RULE

    def error(self, message: str, position: int) -> RuleSyntaxError:
        return RuleSyntaxError(message, position, self.path)

    def positional(self, call: Call, count: int) -> tuple[Node, ...]:
        if call.named:
            name = call.named[0][0]
            raise self.error(f"{call.op} takes no named argument {name}::", call.position)
        if len(call.args) != count:
            raise self.error(
                f"{call.op} takes {count} argument(s), got {len(call.args)}", call.position
            )
        return call.args

    def named_args(self, call: Call, allowed: tuple[str, ...]) -> dict[str, Node]:
        args = dict(call.named)
        for name in args:
            if name not in allowed:
                raise self.error(f"{call.op} has no argument {name}::", call.position)
        return args


OperatorCompiler = Callable[[CompilerState, Call, Operand], Evaluator]
