"""track_context_common: the same record as track_record for the common shape, else None."""

from __future__ import annotations

import random
from typing import Any

from asyncexp.core.analytics.records import (
    COMMON_MAX_KEYS,
    RecordSettings,
    track_context_common,
    track_record,
)

NOW = 1_700_000_000_000


def general(settings: RecordSettings, uid: object, name: object, props: object) -> dict[str, Any]:
    return track_record(settings, uid, name, props, {}, "python", False, None, NOW, [])


def common(settings: RecordSettings, uid: str, name: str, props: object) -> dict[str, Any] | None:
    context = track_context_common(settings, uid, name, props)
    if context is None:
        return None
    return {
        "appid": settings.app_key,
        "xwho": uid,
        "xwhat": name,
        "xwhen": NOW,
        "xcontext": context,
    }


def test_random_common_inputs_give_the_general_record_key_order_included() -> None:
    rng = random.Random(5)
    settings = RecordSettings(app_key="k", debug=2)
    values: list[object] = ["", "x", "a" * 255, True, False, 0, -(2**63), 2**63 - 1, 42]
    built = 0
    for i in range(400):
        props = {f"k{rng.randrange(30)}": rng.choice(values) for _ in range(rng.randrange(6))}
        name = f"ev{rng.randrange(5)}"
        uid = f"user-{i}"
        want = general(settings, uid, name, props)  # also teaches the memos
        got = common(settings, uid, name, props)
        if got is not None:
            built += 1
            assert got == want
            assert list(got["xcontext"]) == list(want["xcontext"])
            assert got["xcontext"] is not props
    assert built > 300  # once the memos know the names and keys, the common path serves


def test_anything_outside_the_common_shape_is_left_to_the_general_path() -> None:
    settings = RecordSettings(app_key="k")
    general(settings, "u", "ev", {"a": 1, "b": "x"})
    assert common(settings, "u", "ev", {"a": 1, "b": "x"}) is not None
    assert common(settings, "u", "ev", None) is not None
    outside: list[tuple[object, object, object]] = [
        ("u", "other", {"a": 1}),  # event name not validated yet
        ("u", "ev", {"c": 1}),  # key not validated yet
        ("u", "ev", {"a": 1.5}),  # floats: the finite check is the general path's
        ("u", "ev", {"a": 2**63}),  # out of the 64-bit range: an error there
        ("u", "ev", {"a": "é"}),  # non-ASCII: the encodability check
        ("u", "ev", {"a": "x" * 256}),  # a warning there
        ("u", "ev", {"a": ["x"]}),  # lists are copied there
        ("u", "ev", {"a": None}),  # an error there
        ("", "ev", {"a": 1}),  # empty id
        ("u" * 256, "ev", {"a": 1}),  # long id
        ("ü", "ev", {"a": 1}),  # non-ASCII id
        (1, "ev", {"a": 1}),  # not a str
        ("u", ["ev"], {"a": 1}),  # unhashable name
        ("u", "ev", [("a", 1)]),  # not a dict
        ("u", "ev", {f"k{i}": 1 for i in range(COMMON_MAX_KEYS + 1)}),
    ]
    for uid, name, props in outside:
        assert track_context_common(settings, uid, name, props) is None, (uid, name, props)


def test_no_record_before_the_platform_tail_exists() -> None:
    settings = RecordSettings(app_key="k")
    settings.known_names.add("ev")
    assert track_context_common(settings, "u", "ev", None) is None
