"""Analysys record shapes built by asyncexp.core.analytics.records (no event loop)."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from datetime import UTC, datetime

import pytest

from asyncexp.core.analytics.records import (
    LIB,
    LIB_VERSION,
    BuiltRecord,
    RecordSettings,
    build_alias,
    build_profile,
    build_profile_delete,
    build_profile_unset,
    build_track,
    merge_super_properties,
)
from asyncexp.errors import ConfigError, ValidationError

NOW = 1_700_000_000_123
S = RecordSettings(app_key="shop", debug=2)
SYSTEM = {
    "$lib": LIB,
    "$lib_version": LIB_VERSION,
    "$platform": "python",
    "$debug": 2,
    "$is_login": False,
}


def track(
    props: object = None, supers: Mapping[str, object] | None = None, **kw: object
) -> BuiltRecord:
    opts: dict[str, object] = {"platform": "python", "is_login": False, "xwhen": None}
    opts.update(kw)
    return build_track(S, "u1", "SearchCommodity", props, supers or {}, now_ms=NOW, **opts)


def test_track_envelope_is_exact() -> None:
    record, warnings = track({"price": 5000, "tags": ["run", "记录心率"], "ok": True})
    assert warnings == []
    assert record == {
        "appid": "shop",
        "xwho": "u1",
        "xwhat": "SearchCommodity",
        "xwhen": NOW,
        "xcontext": {"price": 5000, "tags": ["run", "记录心率"], "ok": True, **SYSTEM},
    }
    assert list(record) == ["appid", "xwho", "xwhat", "xwhen", "xcontext"]


def test_track_merges_super_properties_under_event_properties() -> None:
    record, _ = track({"level": "event"}, {"level": "super", "member": "VIP"})
    assert record is not None
    assert record["xcontext"]["level"] == "event"
    assert record["xcontext"]["member"] == "VIP"


def test_caller_dicts_are_not_mutated() -> None:
    props = {"a": 1, "tags": ["x"]}
    supers = {"s": "v"}
    before = copy.deepcopy((props, supers))
    track(props, supers)
    build_profile(S, "set", "u1", props, platform=None, is_login=True, xwhen=None, now_ms=NOW)
    assert (props, supers) == before


def test_alias_uses_new_id_and_original_id() -> None:
    record, _ = build_alias(S, "zhangsan", "anon-1", None, platform="js", xwhen=None, now_ms=NOW)
    assert record is not None
    assert record["xwho"] == "zhangsan"
    assert record["xwhat"] == "$alias"
    assert record["xcontext"]["$original_id"] == "anon-1"
    assert record["xcontext"]["$is_login"] is True
    assert record["xcontext"]["$platform"] == "JS"


@pytest.mark.parametrize(
    ("op", "xwhat", "props"),
    [
        ("set", "$profile_set", {"sex": "男"}),
        ("set_once", "$profile_set_once", {"registerTime": "1534249333700"}),
        ("increment", "$profile_increment", {"userPoint": 20}),
        ("append", "$profile_append", {"interest": ["a", "b"]}),
    ],
)
def test_profile_operations(op: str, xwhat: str, props: dict[str, object]) -> None:
    record, _ = build_profile(
        S, op, "zhangsan", props, platform="android", is_login=True, xwhen=None, now_ms=NOW
    )
    assert record is not None
    assert record["xwhat"] == xwhat
    assert record["xcontext"] == {**props, **SYSTEM, "$platform": "Android", "$is_login": True}


def test_profile_with_nothing_to_set_builds_no_record() -> None:
    for op in ("set", "set_once", "increment", "append"):
        built = build_profile(S, op, "u", {}, platform=None, is_login=False, xwhen=None, now_ms=NOW)
        assert built.record is None
    built = build_profile_unset(S, "u", [], platform=None, is_login=False, xwhen=None, now_ms=NOW)
    assert built.record is None


def test_profile_unset_maps_keys_to_empty_string() -> None:
    record, _ = build_profile_unset(
        S, "u", ["hobby", "age"], platform=None, is_login=False, xwhen=None, now_ms=NOW
    )
    assert record is not None
    assert record["xwhat"] == "$profile_unset"
    assert record["xcontext"] == {"hobby": "", "age": "", **SYSTEM}


def test_profile_delete_has_only_system_keys() -> None:
    record, _ = build_profile_delete(S, "u", platform=None, is_login=True, xwhen=None, now_ms=NOW)
    assert record is not None
    assert record["xwhat"] == "$profile_delete"
    assert record["xcontext"] == {**SYSTEM, "$is_login": True}


def test_super_properties_not_added_to_profiles_or_alias() -> None:
    # profile and alias builders take no super properties at all
    record, _ = build_alias(S, "n", "o", {"k": 1}, platform=None, xwhen=None, now_ms=NOW)
    assert record is not None
    assert set(record["xcontext"]) == {"k", *SYSTEM, "$original_id"}


@pytest.mark.parametrize(
    ("given", "sent"),
    [
        ("ios", "iOS"),
        ("IOS", "iOS"),
        ("Android", "Android"),
        ("js", "JS"),
        ("WECHAT", "WeChat"),
        ("", "python"),
        (None, "python"),
        ("harmony", "harmony"),
    ],
)
def test_platform_normalisation(given: str | None, sent: str) -> None:
    record, _ = track(platform=given)
    assert record is not None
    assert record["xcontext"]["$platform"] == sent


def test_xwhen_explicit_zero_and_datetime() -> None:
    def xwhen(value: object) -> object:
        record = track(xwhen=value).record
        assert record is not None
        return record["xwhen"]

    assert xwhen(1_600_000_000_000) == 1_600_000_000_000
    assert xwhen(0) == NOW
    assert xwhen(datetime(2024, 1, 2, 3, 4, 5, 678000, tzinfo=UTC)) == 1_704_164_645_678


@pytest.mark.parametrize("bad", [123, 16_000_000_000_000, "1600000000000", 1.6e12, True])
def test_bad_xwhen_raises(bad: object) -> None:
    with pytest.raises(ValidationError, match="xwhen"):
        track(xwhen=bad)


def test_naive_datetime_xwhen_raises() -> None:
    with pytest.raises(ValidationError, match="timezone-aware"):
        track(xwhen=datetime(2024, 1, 1))


def test_merge_super_properties_copies_and_limits() -> None:
    tags = ["a"]
    merged, _ = merge_super_properties({}, {"tags": tags, "n": 1})
    tags.append("b")
    assert merged == {"tags": ("a",), "n": 1}
    full = {f"k{i}": i for i in range(100)}
    merge_super_properties({}, full)
    with pytest.raises(ValidationError, match="at most 100"):
        merge_super_properties(full, {"one_more": 1})


def test_settings_validate_app_key_and_debug() -> None:
    with pytest.raises(ConfigError, match="app_key"):
        RecordSettings(app_key="")
    with pytest.raises(ConfigError, match="debug"):
        RecordSettings(app_key="a", debug=3)
