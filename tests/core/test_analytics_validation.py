"""The validation rules of asyncexp.core.analytics.validation, at their edges."""

from __future__ import annotations

import math

import pytest

from asyncexp.core.analytics.records import (
    BuiltRecord,
    RecordSettings,
    build_alias,
    build_profile,
    build_track,
)
from asyncexp.core.analytics.validation import MAX_STRING_LENGTH
from asyncexp.errors import ValidationError

S = RecordSettings(app_key="shop")
NOW = 1_700_000_000_000


def track(
    distinct_id: object = "u", name: object = "ev", props: object = None, **kw: object
) -> BuiltRecord:
    opts: dict[str, object] = {"platform": None, "is_login": False, "xwhen": None}
    opts.update(kw)
    return build_track(S, distinct_id, name, props, {}, now_ms=NOW, **opts)


def test_id_length_edges() -> None:
    assert track("x" * 255).record is not None
    with pytest.raises(ValidationError, match=r"distinct_id: must be 1-255 characters, got 256"):
        track("x" * 256)
    with pytest.raises(ValidationError, match="distinct_id"):
        track("")
    with pytest.raises(ValidationError, match="distinct_id: must be a str, got int"):
        track(42)


def test_alias_checks_both_ids() -> None:
    with pytest.raises(ValidationError, match="alias_id"):
        build_alias(S, "", "old", None, platform=None, xwhen=None, now_ms=NOW)
    with pytest.raises(ValidationError, match="distinct_id"):
        build_alias(S, "new", "y" * 256, None, platform=None, xwhen=None, now_ms=NOW)


@pytest.mark.parametrize("name", ["a", "$startup", "A_1$", "e" * 99])
def test_good_event_names(name: str) -> None:
    assert track(name=name).record is not None


@pytest.mark.parametrize("name", ["1abc", "a b", "e" * 100, "", "中文", "a-b", "_x"])
def test_bad_event_names(name: str) -> None:
    with pytest.raises(ValidationError, match="event_name"):
        track(name=name)


@pytest.mark.parametrize("name", ["$alias", "$profile_set", "$profile_delete"])
def test_track_cannot_use_operation_names(name: str) -> None:
    with pytest.raises(ValidationError, match="reserved for the alias/profile"):
        track(name=name)


@pytest.mark.parametrize("key", ["xwho", "XWHAT", "appid", "xcontext", "xWhen"])
def test_envelope_keys_are_reserved(key: str) -> None:
    with pytest.raises(ValidationError, match=rf"properties\['{key}'\]: is a reserved"):
        track(props={key: 1})


@pytest.mark.parametrize("key", ["$lib", "$lib_version", "$debug", "$is_login", "$platform"])
def test_client_keys_cannot_be_set(key: str) -> None:
    with pytest.raises(ValidationError, match="written by the client"):
        track(props={key: "x"})


@pytest.mark.parametrize("key", ["1a", "a-b", "k" * 100, "", "名字"])
def test_bad_keys(key: str) -> None:
    with pytest.raises(ValidationError, match="a key must start with a letter"):
        track(props={key: 1})


def test_non_str_key() -> None:
    with pytest.raises(ValidationError, match="keys must be str"):
        track(props={1: 1})


def test_xcontext_key_count_counts_client_keys() -> None:
    ok = {f"k{i}": i for i in range(295)}
    assert track(props=ok).record is not None
    with pytest.raises(ValidationError, match="at most 300 keys"):
        track(props={**ok, "k295": 1})


def test_list_rules() -> None:
    assert track(props={"l": ["s"] * 100}).record is not None
    with pytest.raises(ValidationError, match="at most 100 items, got 101"):
        track(props={"l": ["s"] * 101})
    with pytest.raises(ValidationError, match=r"\['l'\]\[1\]: list items must be str, got int"):
        track(props={"l": ["s", 2]})


@pytest.mark.parametrize(
    ("value", "rule"),
    [
        (None, "got NoneType"),
        ({"a": 1}, "got dict"),
        ({1, 2}, "got set"),
        (math.nan, "finite"),
        (math.inf, "finite"),
        (2**63, "64 bits"),
    ],
)
def test_bad_values(value: object, rule: str) -> None:
    with pytest.raises(ValidationError, match=rule):
        track(props={"v": value})


def test_long_strings_warn_then_truncate() -> None:
    record, warnings = track(props={"s": "a" * 256})
    assert record is not None
    assert record["xcontext"]["s"] == "a" * 256
    assert "over 255" in warnings[0]
    record, warnings = track(props={"s": "b" * 9000, "l": ["c" * 9000]})
    assert record is not None
    cut = record["xcontext"]["s"]
    assert len(cut) == MAX_STRING_LENGTH
    assert cut.endswith("$")
    assert cut[:-1] == "b" * (MAX_STRING_LENGTH - 1)
    assert record["xcontext"]["l"][0] == "c" * (MAX_STRING_LENGTH - 1) + "$"
    assert len(warnings) == 2


def test_increment_and_append_value_types() -> None:
    with pytest.raises(ValidationError, match="profile_increment values must be numbers"):
        build_profile(
            S, "increment", "u", {"p": "20"}, platform=None, is_login=False, xwhen=None, now_ms=NOW
        )
    with pytest.raises(ValidationError, match="profile_increment values must be numbers"):
        build_profile(
            S, "increment", "u", {"p": True}, platform=None, is_login=False, xwhen=None, now_ms=NOW
        )
    with pytest.raises(ValidationError, match="profile_append values must be lists"):
        build_profile(
            S, "append", "u", {"p": "x"}, platform=None, is_login=False, xwhen=None, now_ms=NOW
        )


def test_properties_must_be_a_mapping_and_flags_typed() -> None:
    with pytest.raises(ValidationError, match="properties: must be a dict, got list"):
        track(props=[("a", 1)])
    with pytest.raises(ValidationError, match="is_login: must be a bool"):
        track(is_login=1)
    with pytest.raises(ValidationError, match="platform: must be a str"):
        track(platform=5)
