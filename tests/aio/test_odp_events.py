"""ODP events against a real local endpoint: payload, batching on driven time, retries,
queue-full policy, config changes, identify, validation and draining at close."""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from asyncexp.aio.http import HttpTransport
from asyncexp.aio.odp import OdpManager
from asyncexp.aio.odp.payload import build_odp_event, normalize_identifiers
from asyncexp.errors import ArgumentTypeError, ClientClosedError, ConfigError, ValidationError
from tests.aio.conftest import ManualTime, NoSleep
from tests.aio.odp_server import API_KEY, OdpServer, Reply, make_config


@pytest.fixture
async def odp() -> AsyncIterator[OdpServer]:
    async with OdpServer() as server:
        yield server


@pytest.fixture
async def make_manager(
    odp: OdpServer, manual_time: ManualTime, no_sleep: NoSleep
) -> AsyncIterator[Callable[..., OdpManager]]:
    """Managers on driven time: the flush interval passes only on ``manual_time.advance``."""
    transport = HttpTransport()
    managers: list[OdpManager] = []

    def make(*, configure: bool = True, **kwargs: Any) -> OdpManager:
        ids = (f"id-{n}" for n in itertools.count())
        kwargs.setdefault("clock", manual_time.clock)
        kwargs.setdefault("wait", manual_time.wait)
        kwargs.setdefault("sleep", no_sleep)
        kwargs.setdefault("jitter", lambda: 1.0)
        kwargs.setdefault("id_factory", lambda: next(ids))
        manager = OdpManager(lambda: transport, **kwargs)
        if configure:
            manager.update_config(make_config(odp.url))
        managers.append(manager)
        return manager

    yield make
    for manager in managers:
        await manager.aclose(5)
    await transport.aclose()


def sent_events(odp: OdpServer) -> list[dict[str, Any]]:
    return [event for request in odp.events for event in request.json]


async def test_wire_format_and_common_data_fields(
    odp: OdpServer, make_manager: Callable[..., OdpManager]
) -> None:
    manager = make_manager()
    await manager.start()
    manager.send_event(
        action="purchase",
        identifiers={"fs_user_id": "u1", "email": "u1@example.com"},
        data={"amount": 42.5, "sku": "abc", "count": 3, "gift": False, "note": None},
    )
    await manager.flush_events()
    [request] = odp.events
    assert request.path == "/v3/events"
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["x-api-key"] == API_KEY
    assert request.raw.startswith(b'[{"type": "fullstack", "action": "purchase", ')  # json.dumps
    assert request.json == [
        {
            "type": "fullstack",
            "action": "purchase",
            "identifiers": {"fs_user_id": "u1", "email": "u1@example.com"},
            "data": {
                "idempotence_id": "id-0",
                "data_source_type": "sdk",
                "data_source": "python-sdk",
                "data_source_version": "5.7.0",
                "amount": 42.5,
                "sku": "abc",
                "count": 3,
                "gift": False,
                "note": None,
            },
        }
    ]
    assert manager.stats.events.delivered == 1


def test_custom_data_is_merged_after_the_common_fields() -> None:
    event = build_odp_event(
        action="a",
        type="",
        identifiers={"x": "1"},
        data={"data_source": "mine", "z": 1},
        idempotence_id="i",
    )
    assert event["type"] == "fullstack"  # empty type becomes the default
    assert list(event["data"]) == [
        "idempotence_id",
        "data_source_type",
        "data_source",
        "data_source_version",
        "z",
    ]
    assert event["data"]["data_source"] == "mine"


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ({"FS-User-ID": "u", "email": "e"}, [("email", "e"), ("fs_user_id", "u")]),
        ({"email": "e", "FS_USER_ID": "u"}, [("email", "e"), ("fs_user_id", "u")]),
        ({"fs_user_id": "u", "email": "e"}, [("email", "e"), ("fs_user_id", "u")]),
        ({"fs-user-id": "u", "Fs_User_Id": "v"}, [("Fs_User_Id", "v"), ("fs_user_id", "u")]),
        ({"user_id": "u"}, [("user_id", "u")]),
    ],
)
def test_identifier_normalisation(given: dict[str, str], expected: list[Any]) -> None:
    assert list(normalize_identifiers(given).items()) == expected


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"action": ""}, ValidationError, r"^ODP action is not valid \(cannot be empty\)\.$"),
        ({"action": 5}, ArgumentTypeError, "action must be str"),
        ({"identifiers": {}}, ValidationError, "^ODP events must have at least one key-value"),
        ({"identifiers": None}, ValidationError, "^ODP events must have at least one key-value"),
        ({"identifiers": [("a", "b")]}, ArgumentTypeError, "identifiers must be a dict"),
        ({"identifiers": {"a": 1}}, ArgumentTypeError, "identifier 'a' must have a str value"),
        ({"identifiers": {"a": ""}}, ValidationError, "cannot be empty"),
        ({"data": {"k": [1]}}, ValidationError, r"^ODP data is not valid\. 'k' is a list"),
        ({"data": {"k": {"a": 1}}}, ValidationError, r"^ODP data is not valid\."),
        ({"data": {"k": float("nan")}}, ValidationError, r"^ODP data is not valid\. 'k' is nan"),
        ({"data": {1: "v"}}, ArgumentTypeError, "data keys must be str"),
        ({"data": "v"}, ArgumentTypeError, "data must be a dict"),
        ({"type": 3}, ArgumentTypeError, "type must be str"),
    ],
)
async def test_bad_input_raises_at_the_call_site_and_queues_nothing(
    make_manager: Callable[..., OdpManager],
    kwargs: dict[str, Any],
    error: type[Exception],
    message: str,
) -> None:
    manager = make_manager()
    args: dict[str, Any] = {"action": "a", "identifiers": {"fs_user_id": "u"}, "data": None}
    args.update(kwargs)
    with pytest.raises(error, match=message):
        manager.send_event(**args)
    assert manager.stats.events.produced == 0


async def test_batches_by_size_and_by_interval_on_driven_time(
    odp: OdpServer, make_manager: Callable[..., OdpManager], manual_time: ManualTime
) -> None:
    manager = make_manager(event_batch_size=3, event_flush_interval=5)
    await manager.start()
    for n in range(7):
        manager.send_event(action="view", identifiers={"fs_user_id": f"u{n}"})
    await odp.wait_until(lambda s: len(s.events) == 2)
    assert [len(r.json) for r in odp.events] == [3, 3]
    assert await manager_sleeping(manual_time) == 5.0  # the 7th waits for its interval
    manual_time.advance(4.5)
    assert await manager_sleeping(manual_time) == 0.5
    assert len(odp.events) == 2
    manual_time.advance(0.5)
    await odp.wait_until(lambda s: len(s.events) == 3)
    assert [e["identifiers"]["fs_user_id"] for e in sent_events(odp)] == [f"u{n}" for n in range(7)]
    await manager.flush_events()
    assert manager.stats.events.delivered == 7


async def manager_sleeping(manual_time: ManualTime) -> float | None:
    return await manual_time.sleeping(finite=True)


async def test_zero_flush_interval_sends_each_event_alone(
    odp: OdpServer, make_manager: Callable[..., OdpManager]
) -> None:
    manager = make_manager(event_flush_interval=0)
    await manager.start()
    for n in range(3):
        manager.send_event(action="view", identifiers={"fs_user_id": f"u{n}"})
    await odp.wait_until(lambda s: len(s.events) == 3)
    assert [len(r.json) for r in odp.events] == [1, 1, 1]


async def test_network_errors_and_5xx_are_retried_with_backoff(
    odp: OdpServer, make_manager: Callable[..., OdpManager], no_sleep: NoSleep
) -> None:
    manager = make_manager()
    odp.events_script.extend([Reply(mode="reset"), Reply(status=503)])
    manager.send_event(action="a", identifiers={"fs_user_id": "u"})
    await manager.flush_events()
    stats = manager.stats.events
    assert (stats.delivered, stats.retried, stats.requests, stats.failed_requests) == (1, 2, 3, 2)
    assert no_sleep.delays == [0.2, 0.4]
    assert [r.raw for r in odp.events[1:]] == [odp.events[0].raw] * 2  # same batch, same ids


async def test_retries_stop_after_three_and_the_batch_is_counted(
    odp: OdpServer,
    make_manager: Callable[..., OdpManager],
    no_sleep: NoSleep,
    caplog: pytest.LogCaptureFixture,
) -> None:
    manager = make_manager()
    odp.events_script.extend([Reply(status=500)] * 4)
    manager.send_event(action="a", identifiers={"fs_user_id": "u"})
    manager.send_event(action="b", identifiers={"fs_user_id": "u"})
    await manager.flush_events()
    assert len(odp.events) == 4
    assert no_sleep.delays == [0.2, 0.4, 0.8]
    assert manager.stats.events.dropped == {"retries_exhausted": 2}
    assert (logging.ERROR, "ODP event send failed (HTTP 500).") in [
        (r.levelno, r.getMessage()) for r in caplog.records if r.name == "asyncexp.odp"
    ]


async def test_4xx_is_not_retried(
    odp: OdpServer, make_manager: Callable[..., OdpManager], no_sleep: NoSleep
) -> None:
    manager = make_manager()
    odp.events_script.append(Reply(status=400, body=b'{"title": "Bad Request"}'))
    manager.send_event(action="a", identifiers={"fs_user_id": "u"})
    await manager.flush_events()
    assert len(odp.events) == 1
    assert no_sleep.delays == []
    assert manager.stats.events.dropped == {"rejected": 1}
    assert manager.stats.events.last_error == "HTTP 400"


async def test_a_full_queue_drops_the_new_event_counts_it_and_logs_once(
    odp: OdpServer, make_manager: Callable[..., OdpManager], caplog: pytest.LogCaptureFixture
) -> None:
    manager = make_manager(event_queue_size=2)  # not started: nothing leaves the queue
    for n in range(5):
        manager.send_event(action="a", identifiers={"fs_user_id": f"u{n}"})
    stats = manager.stats.events
    assert (stats.produced, stats.queued, stats.dropped) == (2, 2, {"queue_full": 3})
    full = [r for r in caplog.records if r.getMessage() == "ODP event send failed (Queue is full)."]
    assert len(full) == 1
    await manager.aclose()  # never started, yet drained at close
    assert [e["identifiers"]["fs_user_id"] for e in sent_events(odp)] == ["u0", "u1"]
    assert stats.delivered == 2


async def test_close_drains_queued_events_and_refuses_later_ones(
    odp: OdpServer, make_manager: Callable[..., OdpManager]
) -> None:
    manager = make_manager(event_batch_size=10, event_flush_interval=1000)
    await manager.start()
    for n in range(25):
        manager.send_event(action="a", identifiers={"fs_user_id": f"u{n}"})
    assert odp.events == []  # nothing has been sent yet
    await manager.aclose()
    assert [len(r.json) for r in odp.events] == [10, 10, 5]
    assert manager.stats.events.delivered == 25
    assert manager.stats.events.queued == 0
    with pytest.raises(ClientClosedError):
        manager.send_event(action="a", identifiers={"fs_user_id": "late"})
    await manager.aclose()  # idempotent


async def test_what_is_left_at_the_close_deadline_is_counted(
    odp: OdpServer, make_manager: Callable[..., OdpManager]
) -> None:
    manager = make_manager(event_batch_size=2)
    await manager.start()
    odp.events_script.append(Reply(mode="hang"))
    for n in range(5):
        manager.send_event(action="a", identifiers={"fs_user_id": f"u{n}"})
    await odp.wait_until(lambda s: len(s.events) == 1)
    await manager.aclose(0)
    stats = manager.stats.events
    assert stats.dropped == {"shutdown_timeout": 5}
    assert (stats.queued, stats.in_flight, stats.delivered) == (0, 0, 0)


async def test_events_queued_before_a_host_change_go_to_the_old_host(
    odp: OdpServer, make_manager: Callable[..., OdpManager]
) -> None:
    manager = make_manager(configure=False, event_flush_interval=1000)
    manager.update_config(make_config(odp.url + "/old"))
    await manager.start()
    manager.send_event(action="a", identifiers={"fs_user_id": "before"})
    manager.update_config(make_config(odp.url + "/new", key="new-key"))
    await odp.wait_until(lambda s: len(s.events) == 1)  # due at once, interval or not
    manager.send_event(action="a", identifiers={"fs_user_id": "after"})
    await manager.flush_events()
    assert [(r.path, r.headers["x-api-key"]) for r in odp.events] == [
        ("/old/v3/events", API_KEY),
        ("/new/v3/events", "new-key"),
    ]
    assert [e["identifiers"]["fs_user_id"] for e in sent_events(odp)] == ["before", "after"]


async def test_events_before_config_or_without_integration_are_counted_not_sent(
    odp: OdpServer, make_manager: Callable[..., OdpManager]
) -> None:
    manager = make_manager(configure=False)
    manager.send_event(action="a", identifiers={"fs_user_id": "u"})
    manager.update_config(make_config(None))
    manager.send_event(action="a", identifiers={"fs_user_id": "u"})
    await manager.aclose()
    assert manager.stats.events.dropped == {"no_config": 1, "not_integrated": 1}
    assert odp.events == []


async def test_identify_needs_two_identifiers(
    odp: OdpServer, make_manager: Callable[..., OdpManager], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, "asyncexp.odp")
    manager = make_manager()
    assert manager.identify("u1") is False  # what create_user_context does: nothing sent
    assert manager.identify("u1", {"email": ""}) is False
    assert "ODP identify event is not dispatched (fewer than 2 valid identifiers)." in [
        r.getMessage() for r in caplog.records
    ]
    assert manager.stats.events.produced == 0
    assert manager.identify("u1", {"email": "u1@example.com"}) is True
    await manager.flush_events()
    [event] = sent_events(odp)
    assert (event["type"], event["action"]) == ("fullstack", "identified")
    assert event["identifiers"] == {"email": "u1@example.com", "fs_user_id": "u1"}
    disabled = make_manager(disabled=True)
    assert disabled.identify("u1", {"email": "e"}) is False


@pytest.mark.parametrize(
    "kwargs",
    [
        {"event_batch_size": 0},
        {"event_queue_size": -1},
        {"event_flush_interval": -1},
        {"cache_size": 1.5},
    ],
)
def test_bad_settings_raise_config_error(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ConfigError):
        OdpManager(HttpTransport, **kwargs)


async def test_a_crashed_sender_is_counted_and_a_new_one_starts(
    odp: OdpServer, make_manager: Callable[..., OdpManager], caplog: pytest.LogCaptureFixture
) -> None:
    async def broken_wait(event: asyncio.Event, seconds: float | None) -> None:
        if seconds is not None:
            raise RuntimeError("injected")
        await event.wait()

    manager = make_manager(wait=broken_wait, event_flush_interval=100)
    manager.send_event(action="a", identifiers={"fs_user_id": "u"})
    await manager.start()
    stats = manager.stats.events
    for _ in range(100):
        if stats.crashes:
            break
        await asyncio.sleep(0)
    assert (stats.crashes, stats.dropped, stats.queued) == (1, {"internal_error": 1}, 0)
    assert "RuntimeError: injected" in (stats.last_error or "")
    assert any(r.exc_info for r in caplog.records if r.name == "asyncexp.odp")
    manager.send_event(action="b", identifiers={"fs_user_id": "u"})
    await manager.flush_events()  # a new sender delivers the next event
    assert stats.delivered == 1
    assert [e["action"] for e in sent_events(odp)] == ["b"]
