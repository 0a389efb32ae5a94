"""Fuzzing the datafile parser: only ``ConfigError`` (and its subclasses) may come out.

Inputs: random JSON-ish documents, valid datafiles with random edits (deleted,
replaced and retyped fields, deep nesting, huge numbers, NaN), damaged bytes
(non-UTF-8 included), every field of the small seed datafiles deleted or
retyped one at a time (exhaustive, not random), and nesting of 10,000 levels
at every place a parser recurses. A datafile that parses must also decide
every flag (with reasons), take a conversion and build its config view
without raising.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from asyncexp.client import Client
from asyncexp.core.flags.datafile import ProjectConfig, parse_datafile
from asyncexp.errors import ConfigError
from asyncexp.flags.decision import Decision
from asyncexp.flags.parsing import parse_datafile_fast
from asyncexp.testing import CapturingCollector
from tests.datafiles import base_datafile
from tests.fuzz.profile import fuzz
from tests.fuzz.strategies import (
    Mutated,
    datafile_with_holdouts,
    deep,
    deep_text,
    json_values,
    mutated,
    mutated_bytes,
)


def parse_or_config_error(data: str | bytes | dict[str, Any]) -> ProjectConfig | None:
    """The documented contract: a ``ProjectConfig`` or ``ConfigError``, nothing else."""
    try:
        return parse_datafile(data)
    except ConfigError as exc:
        error = exc
    assert str(error)  # every error says something
    return None


def exercise(config: ProjectConfig, attributes: dict[str, Any] | None = None) -> None:
    """A config that parsed is usable: decisions for every flag and the config view."""
    client = Client(collector=CapturingCollector())
    client._current.apply(config)  # this very config: no second parse, any max_depth
    user = client.create_user_context("fuzz-user", attributes or {"age": 30, "country": "US"})
    user.set_qualified_segments(["vip"])
    decisions = user.decide_all(["INCLUDE_REASONS"])
    assert set(decisions) == set(config.flags)
    assert all(isinstance(d, Decision) for d in decisions.values())
    for key in list(config.events)[:3]:
        user.track_event(key, {"revenue": 1})
    view = client.get_config()
    assert view is not None
    view.to_dict()


def text_forms(doc: dict[str, Any]) -> list[str | bytes | dict[str, Any]]:
    """The dict itself, and its JSON text when there is one (NaN/big ints may have none)."""
    forms: list[str | bytes | dict[str, Any]] = [doc]
    try:
        raw = orjson.dumps(doc)
    except orjson.JSONEncodeError:
        return forms
    return [*forms, raw, raw.decode()]


# -- random documents ----------------------------------------------------------------------


@fuzz(300)
@given(json_values(max_leaves=40))
def test_random_json_values(value: Any) -> None:
    if isinstance(value, dict):
        parse_or_config_error(value)
    try:
        text = json.dumps(value)
    except ValueError:  # a lone surrogate or a huge int: no text form
        return
    parse_or_config_error(text)
    parse_or_config_error(text.encode("utf-8", "surrogatepass"))


# -- every field of a small datafile, one at a time ------------------------------------------
# Exhaustive where random edits are thin: each value of both small seed datafiles is
# deleted or replaced by a value of every other JSON type, one edit per parse.

REPLACEMENTS: dict[str, Any] = {
    "deleted": None,  # stands for the deletion
    "null": None,
    "list": ["x"],
    "object": {"a": "x"},
    "int": 7,
    "float": 0.5,
    "bool": True,
    "string": "x",
    "deep": deep(40),
}


def _all_paths(doc: Any) -> list[tuple[Any, ...]]:
    out: list[tuple[Any, ...]] = []
    stack: list[tuple[tuple[Any, ...], Any]] = [((), doc)]
    while stack:
        path, node = stack.pop()
        items = node.items() if isinstance(node, dict) else enumerate(node)
        for key, value in items:
            out.append((*path, key))
            if isinstance(value, dict | list):
                stack.append(((*path, key), value))
    return sorted(out, key=repr)


@pytest.mark.parametrize("seed", ["base", "holdouts"])
@pytest.mark.parametrize("replacement", sorted(REPLACEMENTS))
def test_every_field_deleted_or_retyped(seed: str, replacement: str) -> None:
    make = base_datafile if seed == "base" else datafile_with_holdouts
    for path in _all_paths(make()):
        doc = make()
        parent = doc
        for step in path[:-1]:
            parent = parent[step]
        if replacement == "deleted":
            del parent[path[-1]]
        else:
            parent[path[-1]] = copy.deepcopy(REPLACEMENTS[replacement])
        config = parse_or_config_error(doc)
        if config is not None:
            exercise(config)


@fuzz(300)
@given(st.binary(max_size=200))
def test_random_bytes(data: bytes) -> None:
    parse_or_config_error(data)


@fuzz(200)
@given(
    st.fixed_dictionaries(
        {"version": st.sampled_from(["2", "3", "4"])},
        optional={
            key: json_values(max_leaves=10)
            for key in (
                "accountId",
                "projectId",
                "revision",
                "attributes",
                "audiences",
                "typedAudiences",
                "events",
                "experiments",
                "groups",
                "featureFlags",
                "rollouts",
                "holdouts",
                "localHoldouts",
                "integrations",
                "botFiltering",
                "region",
            )
        },
    )
)
def test_random_top_level_fields(doc: dict[str, Any]) -> None:
    config = parse_or_config_error(doc)
    if config is not None:
        exercise(config)


# -- mutated valid datafiles ---------------------------------------------------------------


ATTRIBUTES = st.dictionaries(
    st.sampled_from(["age", "country", "x"]), json_values(max_leaves=3), max_size=3
)


@fuzz(400)
@given(mutated(), ATTRIBUTES)
def test_mutated_datafiles(document: Mutated, attributes: dict[str, Any]) -> None:
    for form in text_forms(document.doc):
        config = parse_or_config_error(form)
        if config is not None:
            exercise(config, attributes)


@fuzz(300)
@given(mutated_bytes())
def test_damaged_datafile_bytes(data: bytes) -> None:
    config = parse_or_config_error(data)
    if config is not None:
        exercise(config)


# -- deep nesting: must be the documented error, never RecursionError ----------------------

LEVELS = 10_000


def _with(mutate: Any) -> dict[str, Any]:
    doc = base_datafile()
    mutate(doc)
    return doc


def _typed(doc: dict[str, Any], conditions: Any) -> None:
    doc["typedAudiences"][0]["conditions"] = conditions


def _leaf_value(value: Any) -> list[Any]:
    return ["and", {"type": "custom_attribute", "name": "age", "match": "exact", "value": value}]


DEEP_DICT_CASES: dict[str, Callable[[], Any]] = {
    "document": lambda: deep(LEVELS, "dict", {"version": "4"}),
    "datafile key": lambda: _with(lambda d: d.__setitem__("extra", deep(LEVELS))),
    "typed conditions": lambda: _with(lambda d: _typed(d, deep(LEVELS))),
    "typed conditions, 33 lists": lambda: _with(lambda d: _typed(d, deep(33))),
    "leaf value": lambda: _with(lambda d: _typed(d, _leaf_value(deep(LEVELS)))),
    "audienceConditions": lambda: _with(
        lambda d: d["experiments"][0].__setitem__("audienceConditions", deep(LEVELS, leaf="aud_us"))
    ),
    "legacy conditions text": lambda: _with(
        lambda d: d["audiences"][0].__setitem__("conditions", deep_text(LEVELS))
    ),
}


@pytest.mark.parametrize("case", sorted(DEEP_DICT_CASES))
def test_deep_nesting_raises_config_error(case: str) -> None:
    doc = DEEP_DICT_CASES[case]()
    with pytest.raises(ConfigError):
        parse_datafile(doc)


def _text_with(placeholder_value: str, mutate: Any) -> str:
    doc = base_datafile()
    mutate(doc)
    return json.dumps(doc).replace('"@@"', placeholder_value)


DEEP_TEXT_CASES: dict[str, Callable[[], str]] = {
    "document": lambda: deep_text(LEVELS),
    "object document": lambda: deep_text(LEVELS, "dict"),
    "datafile key": lambda: _text_with(deep_text(LEVELS), lambda d: d.__setitem__("x", "@@")),
    # orjson stops at 1024 levels: just under it the parser's own limits must hold.
    "typed conditions 1000": lambda: _text_with(deep_text(1000), lambda d: _typed(d, "@@")),
    "leaf value 1000": lambda: _text_with(deep_text(1000), lambda d: _typed(d, _leaf_value("@@"))),
    "leaf value 1000 dicts": lambda: _text_with(
        deep_text(1000, "dict"), lambda d: _typed(d, _leaf_value("@@"))
    ),
    "leaf name 1000": lambda: _text_with(
        deep_text(1000),
        lambda d: _typed(d, ["and", {"type": "custom_attribute", "name": "@@", "value": 1}]),
    ),
    "audienceConditions 1000": lambda: _text_with(
        deep_text(1000, leaf='"aud_us"'),
        lambda d: d["experiments"][0].__setitem__("audienceConditions", "@@"),
    ),
    "audienceConditions leaf 1000 dicts": lambda: _text_with(
        deep_text(1000, "dict"),
        lambda d: d["experiments"][0].__setitem__("audienceConditions", ["or", "@@"]),
    ),
    "legacy conditions text 1000": lambda: _text_with(
        json.dumps(json.dumps(_leaf_value("@@")).replace('"@@"', deep_text(1000))),
        lambda d: d["audiences"][0].__setitem__("conditions", "@@"),
    ),
}


@pytest.mark.parametrize("case", sorted(DEEP_TEXT_CASES))
def test_deep_text_raises_config_error_or_parses_safely(case: str) -> None:
    text = DEEP_TEXT_CASES[case]()
    config = parse_or_config_error(text)
    if config is not None:  # accepted: then it must be fully usable
        exercise(config)


def test_parse_datafile_fast_has_the_same_contract() -> None:
    with pytest.raises(ConfigError):
        parse_datafile_fast(deep_text(LEVELS))
    with pytest.raises(ConfigError):
        parse_datafile_fast(b"\xff\xfe{}")
