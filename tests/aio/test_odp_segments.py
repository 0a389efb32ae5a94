"""Segment fetching against a real local GraphQL endpoint: wire, cache, options, coalescing,
failure kinds and their reason texts."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from asyncexp.aio.http import HttpTransport
from asyncexp.aio.odp import OdpManager, OdpOption, OdpState
from tests.aio.odp_server import API_KEY, OdpServer, Reply, make_config

REFERENCE_BODY = (
    b'{"query": "query($userId: String, $audiences: [String]) {customer(fs_user_id: $userId) '
    b'{audiences(subset: $audiences) {edges {node {name state}}}}}", '
    b'"variables": {"userId": "user-1", "audiences": ["vip", "gold"]}}'
)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def odp() -> AsyncIterator[OdpServer]:
    async with OdpServer() as server:
        yield server


@pytest.fixture
async def make_manager(odp: OdpServer) -> AsyncIterator[Callable[..., OdpManager]]:
    transport = HttpTransport()
    managers: list[OdpManager] = []

    def make(*, configure: bool = True, **kwargs: Any) -> OdpManager:
        manager = OdpManager(lambda: transport, **kwargs)
        if configure:
            manager.update_config(make_config(odp.url))
        managers.append(manager)
        return manager

    yield make
    for manager in managers:
        await manager.aclose(5)
    await transport.aclose()


def odp_messages(caplog: pytest.LogCaptureFixture) -> list[tuple[int, str]]:
    return [(r.levelno, r.getMessage()) for r in caplog.records if r.name == "asyncexp.odp"]


async def test_request_is_the_reference_graphql_call(
    odp: OdpServer, make_manager: Callable[..., OdpManager]
) -> None:
    manager = make_manager()
    assert manager.state is OdpState.INTEGRATED
    assert await manager.fetch_segments("user-1") == ["vip"]
    [request] = odp.graphql
    assert request.path == "/v3/graphql"
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["x-api-key"] == API_KEY
    assert request.raw == REFERENCE_BODY  # only the datafile's segments are asked for


async def test_no_segments_in_the_datafile_returns_empty_without_a_request(
    odp: OdpServer, make_manager: Callable[..., OdpManager], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, "asyncexp.odp")
    manager = make_manager(configure=False)
    manager.update_config(make_config(odp.url, segments=()))
    assert await manager.fetch_segments("user-1") == []
    assert odp.graphql == []
    assert manager.stats.segments.no_segments == 1
    assert (10, "No segments are used in the project. Returning empty list.") in odp_messages(
        caplog
    )


async def test_cache_hit_then_ttl_expiry_on_the_injected_clock(
    odp: OdpServer, make_manager: Callable[..., OdpManager]
) -> None:
    clock = Clock()
    manager = make_manager(clock=clock, cache_timeout=600)
    assert await manager.fetch_segments("u") == ["vip"]
    odp.qualified["u"] = {"vip", "gold"}
    clock.now += 599
    assert await manager.fetch_segments("u") == ["vip"]  # from the cache
    assert len(odp.graphql) == 1
    assert manager.stats.segments.cache_hits == 1
    clock.now += 1
    assert await manager.fetch_segments("u") == ["vip", "gold"]  # expired: asked again
    assert len(odp.graphql) == 2


async def test_cache_key_is_per_user_and_empty_answers_are_cached(
    odp: OdpServer, make_manager: Callable[..., OdpManager]
) -> None:
    manager = make_manager()
    odp.qualified["nobody"] = set()
    assert await manager.fetch_segments("nobody") == []
    assert await manager.fetch_segments("nobody") == []
    assert await manager.fetch_segments("other") == ["vip"]
    assert len(odp.graphql) == 2
    assert manager.cache.lookup("fs_user_id-$-nobody") == []


async def test_ignore_cache_skips_read_and_write(
    odp: OdpServer, make_manager: Callable[..., OdpManager]
) -> None:
    manager = make_manager()
    assert await manager.fetch_segments("u", [OdpOption.IGNORE_CACHE]) == ["vip"]
    assert len(manager.cache) == 0  # not written
    assert await manager.fetch_segments("u") == ["vip"]  # a request: nothing cached
    odp.qualified["u"] = {"gold"}
    assert await manager.fetch_segments("u", ["IGNORE_CACHE"]) == ["gold"]  # read skipped
    assert await manager.fetch_segments("u") == ["vip"]  # the cache kept the saved answer
    assert len(odp.graphql) == 3


async def test_reset_cache_clears_everything_then_fetches_and_saves(
    odp: OdpServer, make_manager: Callable[..., OdpManager]
) -> None:
    manager = make_manager()
    await manager.fetch_segments("a")
    await manager.fetch_segments("b")
    odp.qualified["a"] = {"gold"}
    assert await manager.fetch_segments("a", ("RESET_CACHE",)) == ["gold"]
    assert manager.cache.lookup("fs_user_id-$-b") is None
    assert manager.cache.lookup("fs_user_id-$-a") == ["gold"]
    assert len(odp.graphql) == 3
    both = [OdpOption.RESET_CACHE, OdpOption.IGNORE_CACHE]
    assert await manager.fetch_segments("a", both) == ["gold"]
    assert len(manager.cache) == 0  # reset, and not saved
    assert OdpOption.IGNORE_CACHE == "IGNORE_CACHE"
    assert OdpOption.RESET_CACHE == "RESET_CACHE"


async def wait_for_joins(manager: OdpManager, joins: int) -> None:
    for _ in range(10_000):
        if manager.stats.segments.coalesced >= joins:
            return
        await asyncio.sleep(0)
    raise AssertionError(f"only {manager.stats.segments.coalesced} of {joins} fetches joined")


async def test_concurrent_fetches_for_one_user_share_one_request(
    odp: OdpServer, make_manager: Callable[..., OdpManager]
) -> None:
    manager = make_manager()
    odp.gate.clear()
    tasks = [asyncio.ensure_future(manager.fetch_segments("u")) for _ in range(50)]
    tasks.append(asyncio.ensure_future(manager.fetch_segments("u", [OdpOption.IGNORE_CACHE])))
    other = asyncio.ensure_future(manager.fetch_segments("someone-else"))
    await wait_for_joins(manager, 50)
    await odp.wait_until(lambda s: len(s.graphql) == 2)
    odp.gate.set()
    results = await asyncio.gather(*tasks)
    assert await other == ["vip"]
    assert results == [["vip"]] * 51
    assert results[0] is not results[1]  # every caller gets its own list
    assert sorted(r.json["variables"]["userId"] for r in odp.graphql) == ["someone-else", "u"]
    assert manager.stats.segments.requests == 2
    assert await manager.fetch_segments("u") == ["vip"]
    assert len(odp.graphql) == 2  # saved once, now a cache hit


async def test_the_answer_is_cached_before_any_caller_resumes(
    odp: OdpServer, make_manager: Callable[..., OdpManager]
) -> None:
    manager = make_manager()
    odp.gate.clear()
    first = asyncio.ensure_future(manager.fetch_segments("u"))
    await odp.wait_until(lambda s: len(s.graphql) == 1)
    odp.gate.set()
    for _ in range(10_000):
        if len(manager.cache):
            break
        await asyncio.sleep(0)
    assert not first.done()  # the request ended, its caller has not resumed yet …
    assert await manager.fetch_segments("u") == ["vip"]  # … and a new fetch needs no request
    assert await first == ["vip"]
    assert len(odp.graphql) == 1
    assert manager.stats.segments.cache_hits == 1


async def test_a_cancelled_caller_does_not_cancel_the_shared_request(
    odp: OdpServer, make_manager: Callable[..., OdpManager]
) -> None:
    manager = make_manager()
    odp.gate.clear()
    first = asyncio.ensure_future(manager.fetch_segments("u"))
    second = asyncio.ensure_future(manager.fetch_segments("u"))
    await wait_for_joins(manager, 1)
    first.cancel()
    odp.gate.set()
    assert await second == ["vip"]
    assert first.cancelled()
    assert len(odp.graphql) == 1


GRAPHQL_ERROR = (
    b'{"errors": [{"message": "Exception while fetching data (/customer) : boom",'
    b' "extensions": {"classification": "DataFetchingException"}}], "data": {"customer": null}}'
)
INVALID_ID = (
    b'{"errors": [{"message": "Exception while fetching data (/customer) : '
    b'java.lang.RuntimeException: could not resolve _fs_user_id = x",'
    b' "extensions": {"code": "INVALID_IDENTIFIER_EXCEPTION", "classification": '
    b'"DataFetchingException"}}], "data": {"customer": null}}'
)


@pytest.mark.parametrize(
    ("reply", "kind", "reason", "level"),
    [
        (Reply(mode="reset"), "network", "network error", logging.ERROR),
        (Reply(status=500, body=b"{}"), "http_status", "network error", logging.ERROR),
        (Reply(status=403, body=b"denied"), "http_status", "network error", logging.ERROR),
        (Reply(body=GRAPHQL_ERROR), "graphql_error", "DataFetchingException", logging.ERROR),
        (Reply(body=INVALID_ID), "invalid_identifier", "invalid identifier", logging.WARNING),
        (Reply(body=b'{"errors": [{"message": "x"}]}'), "decode", "decode error", logging.ERROR),
        (Reply(body=b"{not json"), "json_decode", "JSON decode error", logging.ERROR),
        (Reply(body=b"[1, 2]"), "decode", "decode error", logging.ERROR),
        (Reply(body=b'{"data": {"customer": {}}}'), "decode", "decode error", logging.ERROR),
        (
            Reply(
                body=b'{"data": {"customer": {"audiences": {"edges": [{"node": {"name": "a"}}]}}}}'
            ),
            "decode",
            "decode error",
            logging.ERROR,
        ),
        (
            Reply(body=b'{"data": {"customer": {"audiences": {"edges": {"node": 1}}}}}'),
            "decode",
            "decode error",
            logging.ERROR,
        ),
    ],
)
async def test_each_failure_kind_returns_none_with_the_reference_reason(
    odp: OdpServer,
    make_manager: Callable[..., OdpManager],
    caplog: pytest.LogCaptureFixture,
    reply: Reply,
    kind: str,
    reason: str,
    level: int,
) -> None:
    manager = make_manager()
    odp.graphql_script.append(reply)
    assert await manager.fetch_segments("u") is None
    assert (level, f"Audience segments fetch failed ({reason}).") in odp_messages(caplog)
    assert manager.stats.segments.failures == {kind: 1}
    assert manager.stats.segments.last_failure == reason
    assert len(manager.cache) == 0
    assert await manager.fetch_segments("u") == ["vip"]  # nothing was cached; it recovers


async def test_timeout_is_a_network_error(
    odp: OdpServer, make_manager: Callable[..., OdpManager], caplog: pytest.LogCaptureFixture
) -> None:
    manager = make_manager(segments_timeout=0.05)
    odp.graphql_script.append(Reply(mode="hang"))
    assert await manager.fetch_segments("u") is None
    assert manager.stats.segments.failures == {"timeout": 1}
    assert (logging.ERROR, "Audience segments fetch failed (network error).") in odp_messages(
        caplog
    )


async def test_repeated_failures_are_counted_every_time_but_logged_once(
    odp: OdpServer, make_manager: Callable[..., OdpManager], caplog: pytest.LogCaptureFixture
) -> None:
    clock = Clock()
    manager = make_manager(clock=clock, log_interval=10)
    odp.graphql_script.extend([Reply(status=503)] * 3)
    for user in ("a", "b"):
        assert await manager.fetch_segments(user) is None
    clock.now += 10
    assert await manager.fetch_segments("c") is None
    assert manager.stats.segments.failures == {"http_status": 3}
    assert len(odp_messages(caplog)) == 2


async def test_disabled_fetch_fails_with_a_reason_and_sends_nothing(
    odp: OdpServer, make_manager: Callable[..., OdpManager], caplog: pytest.LogCaptureFixture
) -> None:
    manager = make_manager(disabled=True)
    await manager.start()
    assert manager.state is OdpState.DISABLED
    assert await manager.fetch_segments("u") is None
    manager.send_event(action="purchase", identifiers={"fs_user_id": "u"})
    await manager.aclose()
    assert odp.graphql == []
    assert odp.events == []
    assert (logging.ERROR, "ODP is not enabled.") in odp_messages(caplog)
    assert manager.stats.segments.failures == {"not_enabled": 1}
    assert manager.stats.events.dropped == {"disabled": 1}


@pytest.mark.parametrize("configure", ["none", "no-host", "no-key"])
async def test_missing_host_or_key_fails_before_any_request(
    odp: OdpServer,
    make_manager: Callable[..., OdpManager],
    caplog: pytest.LogCaptureFixture,
    configure: str,
) -> None:
    manager = make_manager(configure=False)
    if configure == "no-host":
        manager.update_config(make_config(None))
    elif configure == "no-key":
        manager.update_config(make_config(odp.url, key=None))
    expected = OdpState.UNDETERMINED if configure == "none" else OdpState.NOT_INTEGRATED
    assert manager.state is expected
    assert await manager.fetch_segments("u") is None
    text = "Audience segments fetch failed (api_key/api_host not defined)."
    assert (logging.ERROR, text) in odp_messages(caplog)
    assert odp.graphql == []


async def test_overrides_win_over_the_datafile(
    odp: OdpServer, make_manager: Callable[..., OdpManager]
) -> None:
    manager = make_manager(configure=False, host=odp.url + "/eu", public_key="override-key")
    manager.update_config(make_config(None, key=None))
    assert await manager.fetch_segments("u") == ["vip"]
    assert odp.graphql[0].path == "/eu/v3/graphql"
    assert odp.graphql[0].headers["x-api-key"] == "override-key"


async def test_config_changes_reset_the_cache_and_in_flight_answers_are_not_saved(
    odp: OdpServer, make_manager: Callable[..., OdpManager]
) -> None:
    manager = make_manager()
    await manager.fetch_segments("u")
    manager.update_config(make_config(odp.url))  # same settings, new object: kept
    assert len(manager.cache) == 1
    manager.update_config(make_config(odp.url, segments=("vip",)))
    assert len(manager.cache) == 0
    odp.gate.clear()
    pending = asyncio.ensure_future(manager.fetch_segments("u"))
    await odp.wait_until(lambda s: len(s.graphql) == 2)
    manager.update_config(make_config(odp.url, segments=("vip", "new")))
    odp.gate.set()
    assert await pending == ["vip"]
    assert len(manager.cache) == 0  # answered for the old segments: not saved
    assert odp.graphql[1].json["variables"]["audiences"] == ["vip"]


async def test_the_public_key_never_reaches_the_logs(
    odp: OdpServer, make_manager: Callable[..., OdpManager], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    manager = make_manager(event_flush_interval=0)
    await manager.start()
    odp.graphql_script.extend(
        [Reply(mode="reset"), Reply(status=500), Reply(body=b"{"), Reply(body=INVALID_ID)]
    )
    odp.events_script.extend([Reply(status=500), Reply(status=400), Reply(mode="reset")])
    for user in ("a", "b", "c", "d", "e"):
        await manager.fetch_segments(user)
    await manager.fetch_segments("e")
    for n in range(3):
        manager.send_event(action="a", identifiers={"fs_user_id": str(n)})
    await manager.flush_events()
    await manager.aclose()
    assert odp.events  # events were sent with the key …
    assert all(r.headers["x-api-key"] == API_KEY for r in odp.graphql + odp.events)
    assert len(caplog.records) > 10
    for record in caplog.records:  # … and no log line carries it
        assert API_KEY not in record.getMessage()
        assert API_KEY not in str(record.args)
    assert API_KEY not in repr(manager.stats.as_dict())
