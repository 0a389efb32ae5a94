"""``asyncexp.compat.analysys``: the reference's names, argument orders and collectors."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from asyncexp.compat.analysys import (
    AnalysysPythonSdk,
    BatchCollecter,
    DefaultCollecter,
    LogCollecter,
    analysys_session,
)
from asyncexp.errors import ArgumentTypeError, ClientStateError
from asyncexp.testing import IngestionServer


async def test_positional_arguments_land_where_the_reference_puts_them() -> None:
    async with IngestionServer() as server:
        async with analysys_session():
            sdk = AnalysysPythonSdk(DefaultCollecter(server.url))
            sdk.setAppId("shop")
            sdk.track("d1", "view", {"price": 5}, "android", True, 1_700_000_000_000)
            sdk.alias("login1", "d1", "ios", {"channel": "web"})
            sdk.profile_set("login1", {"vip": True}, "js", True)
            sdk.profile_unset("login1", ["vip"], "js", True)
            sdk.profile_delete("login1", "js", True)
        by_what = {r["xwhat"]: r for r in server.records}
    view = by_what["view"]
    assert view["appid"] == "shop"
    assert view["xwho"] == "d1"
    assert view["xwhen"] == 1_700_000_000_000
    assert view["xcontext"]["price"] == 5
    assert view["xcontext"]["$platform"] == "Android"  # normalised, as the reference does
    assert view["xcontext"]["$is_login"] is True
    alias = by_what["$alias"]
    assert alias["xwho"] == "login1"
    assert alias["xcontext"]["$original_id"] == "d1"
    assert alias["xcontext"]["$platform"] == "iOS"
    assert set(by_what) >= {"$profile_set", "$profile_unset", "$profile_delete"}


async def test_super_properties_survive_a_later_set_debug_mode() -> None:
    async with IngestionServer() as server:
        async with analysys_session():
            sdk = AnalysysPythonSdk(DefaultCollecter(server.url))
            sdk.setAppId("shop")
            sdk.registerSuperProperties({"member": "VIP", "userPoint": 10})
            sdk.setDebugMode(2)
            assert sdk.getSingleSuperProperties("member") == "VIP"
            sdk.unregisterSuperProperties("userPoint")
            assert sdk.getAllSuperProperties() == {"member": "VIP"}
            sdk.track("d1", "buy")
            sdk.clearSuperProperties()
            sdk.track("d1", "after_clear")
        records = {r["xwhat"]: r for r in server.records}
    assert records["buy"]["xcontext"]["member"] == "VIP"
    assert "userPoint" not in records["buy"]["xcontext"]
    assert records["buy"]["xcontext"]["$debug"] == 2
    assert "member" not in records["after_clear"]["xcontext"]


async def test_batch_collecter_takes_the_reference_parameter_order() -> None:
    async with IngestionServer() as server, analysys_session():
        # max_interval_time=3600, queue_cache_max_size=2: two records make one request
        sdk = AnalysysPythonSdk(BatchCollecter(server.url, 3600, 2, 100, 1000))
        sdk.setAppId("shop")
        sdk.track("d1", "a")
        sdk.track("d1", "b")
        await server.wait_until(lambda s: s.record_count == 2)
        assert len([r for r in server.requests if r.kind == "analysys"]) == 1
        await sdk.flush()


def _log_lines(directory: Path) -> tuple[list[str], list[dict[str, Any]]]:
    paths = sorted(directory.glob("datas_*.log"))
    lines = [json.loads(x) for p in paths for x in p.read_text(encoding="utf-8").splitlines()]
    return [p.name for p in paths], lines


async def test_log_collecter_writes_json_lines(tmp_path: Path) -> None:
    async with analysys_session():
        sdk = AnalysysPythonSdk(LogCollecter(str(tmp_path), True, 5, "day"))
        sdk.setAppId("shop")
        for i in range(3):
            sdk.track("d1", "tick", {"n": i})
    names, lines = _log_lines(tmp_path)
    assert [r["xcontext"]["n"] for r in lines] == [0, 1, 2]
    assert all(len(name) == len("datas_20260101.log") for name in names)  # general_rule="day"


async def test_a_record_that_breaks_a_rule_is_dropped_as_the_reference_does() -> None:
    async with IngestionServer() as server:
        async with analysys_session():
            sdk = AnalysysPythonSdk(DefaultCollecter(server.url))
            sdk.setAppId("shop")
            sdk.track("d1", "bad name with spaces")
            sdk.track("d1", "good")
        assert [r["xwhat"] for r in server.records] == ["good"]
        assert sdk.analytics.stats.dropped_invalid == 1


async def test_calls_before_set_app_id_and_wrong_collectors_raise() -> None:
    async with IngestionServer() as server, analysys_session():
        sdk = AnalysysPythonSdk(DefaultCollecter(server.url))
        with pytest.raises(ClientStateError, match="setAppId"):
            sdk.track("d1", "view")
        with pytest.raises(ArgumentTypeError, match="DefaultCollecter"):
            AnalysysPythonSdk(object())  # type: ignore[arg-type]


def test_the_sdk_needs_a_running_loop() -> None:
    with pytest.raises(ClientStateError, match="running event loop"):
        AnalysysPythonSdk(DefaultCollecter("http://127.0.0.1:9"))
