"""Notification listeners: payloads, async callbacks, failures, registry."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from asyncexp import DecideOption, ValidationError
from asyncexp.client import Client
from asyncexp.flags.notifications import NotificationCenter, NotificationType
from asyncexp.testing import CapturingCollector
from tests.datafiles import base_datafile


async def test_decision_notification_payload() -> None:
    seen: list[tuple[Any, ...]] = []
    async with Client(datafile=base_datafile(), collector=CapturingCollector()) as client:
        client.notifications.add_listener("DECISION", lambda *args: seen.append(args))
        user = client.create_user_context("u", {"age": 5, "country": "US"})
        user.decide("checkout", [DecideOption.INCLUDE_REASONS])
        user.decide("checkout", [DecideOption.DISABLE_DECISION_EVENT])
    kind, user_id, attributes, info = seen[0]
    assert (kind, user_id, attributes) == ("flag", "u", {"age": 5, "country": "US"})
    assert info["flag_key"] == "checkout"
    assert info["rule_key"] == "us_rule"
    assert info["variation_key"] == "on"
    assert info["enabled"] is True
    assert info["variables"]["label"] == "targeted"
    assert info["decision_event_dispatched"] is True
    assert info["experiment_id"] == "rule_us"
    assert info["variation_id"] == "501"
    assert info["reasons"]
    assert seen[1][3]["decision_event_dispatched"] is False
    assert seen[1][3]["reasons"] == []


async def test_track_notification_payload() -> None:
    seen: list[tuple[Any, ...]] = []
    async with Client(datafile=base_datafile(), collector=CapturingCollector()) as client:
        client.notifications.add_listener(
            "TRACK:event_key, user_id, attributes, event_tags, event", lambda *a: seen.append(a)
        )
        client.create_user_context("u", {"age": 5}).track_event("purchase", {"revenue": 5})
    event_key, user_id, attributes, tags, event = seen[0]
    assert (event_key, user_id, attributes, tags) == ("purchase", "u", {"age": 5}, {"revenue": 5})
    assert event["url"] == "https://logx.optimizely.com/v1/events"
    assert event["http_verb"] == "POST"
    assert event["params"]["visitors"][0]["snapshots"][0]["events"][0]["revenue"] == 5


async def test_async_listener_is_awaited_at_close() -> None:
    finished = asyncio.Event()
    release = asyncio.Event()

    async def listener(*args: Any) -> None:
        await release.wait()
        finished.set()

    client = Client(datafile=base_datafile())
    client.notifications.add_listener("DECISION", listener)
    await client.start()
    client.create_user_context("u").decide("checkout")
    assert client.notifications.pending == 1
    closing = asyncio.create_task(client.aclose())
    await asyncio.sleep(0)
    assert not closing.done()
    release.set()
    await closing
    assert finished.is_set()
    assert client.notifications.pending == 0


async def test_raising_listeners_never_break_decisions(caplog: pytest.LogCaptureFixture) -> None:
    async def bad_async(*args: Any) -> None:
        raise RuntimeError("async boom")

    def bad(*args: Any) -> None:
        raise RuntimeError("boom")

    calls: list[str] = []
    async with Client(datafile=base_datafile()) as client:
        client.notifications.add_listener("DECISION", bad)
        client.notifications.add_listener("DECISION", bad_async)
        client.notifications.add_listener("DECISION", lambda *a: calls.append("ok"))
        decision = client.create_user_context("u", {"age": 40}).decide("checkout")
    assert decision.rule_key == "checkout_test"
    assert calls == ["ok"]
    assert "boom" in caplog.text
    assert "async boom" in caplog.text


def test_registry_ids_remove_and_clear() -> None:
    center = NotificationCenter()
    calls: list[str] = []

    def a() -> None:
        calls.append("a")

    first = center.add_listener("CONFIG_UPDATE", a)
    assert center.add_listener("OPTIMIZELY_CONFIG_UPDATE", a) == first  # same callback
    second = center.add_listener("TRACK", lambda *x: calls.append("t"))
    assert second == first + 1
    center.send(NotificationType.CONFIG_UPDATE)
    assert calls == ["a"]
    assert center.remove_listener(first) is True
    assert center.remove_listener(first) is False
    center.send(NotificationType.CONFIG_UPDATE)
    assert calls == ["a"]
    center.clear("TRACK")
    assert not center.has_listeners(NotificationType.TRACK)
    center.add_listener("LOG_EVENT", a)
    center.clear()
    assert not center.has_listeners(NotificationType.LOG_EVENT)
    with pytest.raises(ValidationError, match="unknown notification type"):
        center.add_listener("NOPE", a)
    with pytest.raises(TypeError):
        center.add_listener("TRACK", "not callable")  # type: ignore[arg-type]


def test_async_listener_without_a_loop_is_closed(caplog: pytest.LogCaptureFixture) -> None:
    center = NotificationCenter()

    async def listener() -> None:
        raise AssertionError("never runs")

    center.add_listener("CONFIG_UPDATE", listener)
    center.send(NotificationType.CONFIG_UPDATE)
    assert center.pending == 0
    assert "no loop is running" in caplog.text


async def test_log_event_notification_before_each_optimizely_batch() -> None:
    from asyncexp import BatchCollector
    from asyncexp.testing import IngestionServer

    seen: list[dict[str, Any]] = []
    async with IngestionServer() as server:
        collector = BatchCollector(server.url, optimizely_events_url=server.events_url)
        async with Client(datafile=base_datafile(), collector=collector) as client:
            client.notifications.add_listener("LOG_EVENT:log_event", seen.append)
            user = client.create_user_context("u", {"age": 40})
            user.decide("checkout")
            user.track_event("purchase")
            await client.flush()
        assert len(server.event_batches) >= 1
    assert sum(len(e["params"]["visitors"]) for e in seen) == 2
    assert seen[0]["url"] == server.events_url
    assert seen[0]["http_verb"] == "POST"
    assert seen[0]["headers"] == {"Content-Type": "application/json"}
