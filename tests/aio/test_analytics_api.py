"""The Analytics class: plain calls into a collector, validation policy, super properties."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import pytest

from asyncexp.aio.collectors import BatchCollector
from asyncexp.analytics.api import RECORD_ID, Analytics
from asyncexp.errors import ConfigError, ValidationError
from asyncexp.testing import IngestionServer, Reply

T0 = 1_700_000_000_000


def test_track_submits_one_record(capture: Any, make_analytics: Callable[..., Analytics]) -> None:
    analytics = make_analytics(capture, debug=1)
    analytics.track("u123", "SearchCommodity", {"price": 5000}, platform="android")
    assert len(capture.items) == 1
    record = capture.items[0]
    assert record["appid"] == "shop"
    assert record["xwhen"] == T0
    assert record["xcontext"]["$platform"] == "Android"
    assert record["xcontext"]["$debug"] == 1
    assert analytics.stats.records == 1


def test_every_operation_reaches_the_collector(
    capture: Any, make_analytics: Callable[..., Analytics]
) -> None:
    a = make_analytics(capture)
    a.alias("zhangsan", "u123")
    a.profile_set("zhangsan", {"vip": True}, is_login=True)
    a.profile_set_once("zhangsan", {"first": "x"})
    a.profile_increment("zhangsan", {"points": 20})
    a.profile_append("zhangsan", {"hobby": ["run"]})
    a.profile_unset("zhangsan", ["hobby"])
    a.profile_delete("zhangsan")
    a.profile_set("zhangsan", {})  # nothing to set: no record
    assert [r["xwhat"] for r in capture.items] == [
        "$alias",
        "$profile_set",
        "$profile_set_once",
        "$profile_increment",
        "$profile_append",
        "$profile_unset",
        "$profile_delete",
    ]
    assert [r["xwhen"] for r in capture.items] == [T0 + i for i in range(7)]


def test_invalid_record_raises_by_default(
    capture: Any, make_analytics: Callable[..., Analytics]
) -> None:
    a = make_analytics(capture)
    with pytest.raises(ValidationError, match="event_name '1abc'"):
        a.track("u", "1abc")
    assert capture.items == []


def test_drop_mode_counts_and_logs(
    capture: Any, make_analytics: Callable[..., Analytics], caplog: pytest.LogCaptureFixture
) -> None:
    a = make_analytics(capture, on_invalid="drop")
    with caplog.at_level(logging.WARNING, logger="asyncexp.analytics"):
        a.track("u", "ok", {"xwho": 1})
        a.track("u", "ok")
    assert a.stats.dropped_invalid == 1
    assert len(capture.items) == 1
    assert [r.getMessage() for r in caplog.records] == [
        "dropped an invalid analytics record: properties['xwho']: is a reserved record field name"
    ]


def test_super_properties_api(capture: Any, make_analytics: Callable[..., Analytics]) -> None:
    a = make_analytics(capture)
    a.register_super_properties({"member": "VIP", "tags": ["a"]})
    a.register_super_properties({"userPoint": 10})
    assert a.get_super_property("member") == "VIP"
    got = a.get_super_properties()
    got["tags"].append("mutated")
    assert a.get_super_properties() == {"member": "VIP", "tags": ["a"], "userPoint": 10}
    a.track("u", "purchase", {"userPoint": 11})
    a.profile_set("u", {"x": 1})
    assert capture.items[0]["xcontext"]["member"] == "VIP"
    assert capture.items[0]["xcontext"]["userPoint"] == 11
    assert "member" not in capture.items[1]["xcontext"]
    a.unregister_super_property("member")
    a.unregister_super_property("absent")
    assert a.get_super_property("member") is None
    a.clear_super_properties()
    assert a.get_super_properties() == {}
    with pytest.raises(ValidationError, match="super_properties"):
        a.register_super_properties({"bad key": 1})


def test_soft_warnings_logged_at_warning_in_debug_mode(
    capture: Any, make_analytics: Callable[..., Analytics], caplog: pytest.LogCaptureFixture
) -> None:
    quiet = make_analytics(capture)
    loud = make_analytics(capture, debug=2)
    with caplog.at_level(logging.DEBUG, logger="asyncexp.analytics"):
        quiet.track("u", "e", {"s": "x" * 300})
        loud.track("u", "e", {"s": "x" * 300})
    soft = [r for r in caplog.records if "sent to the collector" not in r.getMessage()]
    assert [r.levelno for r in soft] == [logging.DEBUG, logging.WARNING]


@pytest.mark.parametrize(("debug", "shown"), [(0, 0), (1, 2), (2, 2)])
def test_debug_modes_1_and_2_log_each_record_sent(
    capture: Any,
    make_analytics: Callable[..., Analytics],
    caplog: pytest.LogCaptureFixture,
    debug: int,
    shown: int,
) -> None:
    analytics = make_analytics(capture, debug=debug)
    with caplog.at_level(logging.INFO, logger="asyncexp.analytics"):
        analytics.track("u1", "view", {"price": 5})
        analytics.profile_set("u1", {"vip": True})
    sent = [r for r in caplog.records if "sent to the collector" in r.getMessage()]
    assert len(sent) == shown
    assert all(r.levelno == logging.INFO for r in sent)
    if shown:
        assert "'xwhat': 'view'" in sent[0].getMessage()
        assert "'xwhat': '$profile_set'" in sent[1].getMessage()


def test_settings_are_checked(capture: Any) -> None:
    with pytest.raises(ConfigError, match="on_invalid"):
        Analytics(capture, app_key="a", on_invalid="ignore")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="debug"):
        Analytics(capture, app_key="a", debug=5)
    with pytest.raises(ConfigError, match="app_key"):
        Analytics(capture, app_key="x" * 256)


def test_every_record_carries_a_unique_record_id(
    capture: Any, make_analytics: Callable[..., Analytics]
) -> None:
    first = make_analytics(capture)
    second = make_analytics(capture)  # another client, process or restart
    for analytics in (first, second):
        analytics.track("u", "e", {"n": 1})
        analytics.alias("login", "u")
        analytics.profile_set("login", {"vip": True})
        analytics.profile_unset("login", ["vip"])
        analytics.profile_delete("login")
    ids = [item["xcontext"][RECORD_ID] for item in capture.items]
    assert len(ids) == 10
    assert len(set(ids)) == 10
    assert all(isinstance(i, str) and 0 < len(i) <= 64 for i in ids)


def test_record_ids_can_be_turned_off_and_count_towards_the_key_limit(
    capture: Any, make_analytics: Callable[..., Analytics]
) -> None:
    plain = make_analytics(capture, record_ids=False)
    plain.track("u", "e")
    assert RECORD_ID not in capture.items[0]["xcontext"]
    # 295 own keys + 5 client keys = 300: fits only without the id
    props = {f"p{i}": i for i in range(295)}
    plain.track("u", "e", props)
    with pytest.raises(ValidationError, match="at most 300"):
        make_analytics(capture).track("u", "e", props)
    with pytest.raises(ConfigError, match="record_ids"):
        make_analytics(capture, record_ids=1)


async def test_a_record_id_is_the_same_on_every_resend(
    server: IngestionServer, no_sleep: Any, make_analytics: Callable[..., Analytics]
) -> None:
    server.script("analysys", Reply(status=503, code=None))
    collector = BatchCollector(server.url, batch_size=1, sleep=no_sleep, jitter=lambda: 0.0)
    await collector.start()
    make_analytics(collector).track("u", "e")
    await collector.flush()
    first, second = server.requests
    assert first.payload[0]["xcontext"][RECORD_ID] == second.payload[0]["xcontext"][RECORD_ID]
    await collector.aclose()
