"""Operators on one context key: ``matches`` (safe regex), ``exists`` and ``split``.

Each is an ``OperatorCompiler`` (see ``rule_compiler_base``).
"""

from __future__ import annotations

import mmh3
import orjson

from asyncexp.core.appconfig.rule_compiler_base import (
    MAX_MATCHES_PER_RULE,
    CompilerState,
    Context,
    Evaluator,
    Operand,
)
from asyncexp.core.appconfig.rule_syntax import Call, ContextRef, Literal, Node
from asyncexp.core.appconfig.rule_values import BAD, to_string
from asyncexp.core.appconfig.safe_regex import PatternError, compile_pattern

__all__ = ["exists", "matches", "split", "split_bucket"]


def split_bucket(seed: str, value: str) -> int:
    """The 0–9999 bucket of ``value`` under ``seed`` (MurmurHash3 x86 32-bit, hash seed 1)."""
    key = f"{seed}:{value}".encode(
        "utf-8", "surrogatepass"
    )  # a str with a lone surrogate crashes mmh3
    return (mmh3.hash(key, 1, signed=False) * 10000) >> 32


def matches(state: CompilerState, call: Call, operand: Operand) -> Evaluator:
    args = state.named_args(call, ("in", "pattern"))
    if call.args:
        if args or len(call.args) != 2:
            raise state.error("matches takes in:: and pattern::", call.position)
        args = {"in": call.args[0], "pattern": call.args[1]}
    if "in" not in args or "pattern" not in args:
        raise state.error("matches needs in:: and pattern::", call.position)
    pattern_node = args["pattern"]
    if not (isinstance(pattern_node, Literal) and pattern_node.kind == "string"):
        raise state.error("pattern:: must be a string literal", _position(pattern_node))
    if state.regexes >= MAX_MATCHES_PER_RULE:  # before compiling: bounds compile work too
        raise state.error(
            f"a rule may use matches at most {MAX_MATCHES_PER_RULE} times", call.position
        )
    try:
        pattern = compile_pattern(str(pattern_node.value))
    except PatternError as exc:
        raise state.error(f"unsafe or invalid pattern: {exc}", pattern_node.position) from None
    # a pattern naming characters in many blocks costs several plain clauses
    state.regexes += pattern.weight
    if state.regexes > MAX_MATCHES_PER_RULE:
        raise state.error(
            f"a rule may use matches at most {MAX_MATCHES_PER_RULE} times (a pattern naming "
            f"characters in many blocks counts {pattern.weight} times)",
            call.position,
        )
    get = operand(args["in"], "matches")
    search = pattern.search

    def match(ctx: Context) -> bool | None:
        v = get(ctx)
        if v is None:
            return None
        v = to_string(v)
        return False if v is BAD else search(v)

    return match


def exists(state: CompilerState, call: Call, operand: Operand) -> Evaluator:
    args = state.named_args(call, ("key",))
    target = args.get("key") if not call.args else call.args[0]
    if target is None or len(call.args) + len(args) != 1:
        raise state.error('exists takes key::"name" or one $name', call.position)
    if isinstance(target, ContextRef):
        key = target.key
    elif isinstance(target, Literal) and target.kind == "string":
        key = str(target.value)
    else:
        raise state.error("exists needs a string key", _position(target))
    state.refs.add(key)
    return lambda ctx: ctx.get(key) is not None


def split(state: CompilerState, call: Call, operand: Operand) -> Evaluator:
    if call.args:
        raise state.error("split takes only pct::, by:: and seed::", call.position)
    args = state.named_args(call, ("pct", "by", "seed"))
    pct, by, seed = args.get("pct"), args.get("by"), args.get("seed")
    if not isinstance(pct, Literal) or pct.kind not in ("integer", "float"):
        raise state.error("split needs pct:: with a number", call.position)
    percent = float(pct.value)  # type: ignore[arg-type]  # kind says int or float
    if not 0.0 <= percent <= 100.0:
        raise state.error("split pct:: must be between 0 and 100", pct.position)
    if not isinstance(by, ContextRef):
        raise state.error("split needs by:: with a $context value", call.position)
    if seed is not None and not (isinstance(seed, Literal) and seed.kind == "string"):
        raise state.error("split seed:: must be a string", _position(seed))
    prefix = str(seed.value) if seed is not None else state.default_seed
    threshold = percent * 100.0
    key = by.key
    state.refs.add(key)

    def in_split(ctx: Context) -> bool | None:
        v = ctx.get(key)
        if v is None:
            return None
        if isinstance(v, str):
            text = v
        else:
            try:
                text = orjson.dumps(v, default=str).decode()
            except orjson.JSONEncodeError:  # no JSON text (a huge int, a cycle…)
                return None
        return split_bucket(prefix, text) < threshold

    return in_split


def _position(node: Node) -> int:
    return node.position
