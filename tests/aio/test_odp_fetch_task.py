"""``start_segment_fetch``: the task, the stored segments, plain and coroutine callbacks,
failures that keep the old segments, and tasks awaited (or cancelled) at close."""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

import pytest

from asyncexp.aio.http import HttpTransport
from asyncexp.aio.odp import OdpManager, OdpOption, start_segment_fetch
from asyncexp.client import Client
from asyncexp.errors import ArgumentTypeError, ClientClosedError, ClientStateError
from asyncexp.flags.user_context import UserContext
from tests.aio.odp_server import API_KEY, OdpServer, Reply, make_config
from tests.datafiles import base_datafile


def vip_datafile() -> dict[str, Any]:
    """The base datafile with the "checkout" targeted delivery rule for the "vip" segment."""
    doc = base_datafile()
    rule = doc["rollouts"][0]["experiments"][0]
    rule["audienceIds"] = ["aud_vip"]
    rule["audienceConditions"] = ["or", "aud_vip"]
    return doc


@pytest.fixture
async def odp() -> AsyncIterator[OdpServer]:
    async with OdpServer() as server:
        yield server


@pytest.fixture
async def client(odp: OdpServer) -> AsyncIterator[Client]:
    async with Client(datafile=vip_datafile()) as client:
        yield client


@pytest.fixture
async def manager(odp: OdpServer, client: Client) -> AsyncIterator[OdpManager]:
    transport = HttpTransport()
    manager = OdpManager(lambda: transport)
    assert client.config is not None
    manager.update_config(replace(client.config, odp_host=odp.url, odp_public_key=API_KEY))
    await manager.start()
    yield manager
    await manager.aclose(5)
    await transport.aclose()


def fetch(
    manager: OdpManager, user: UserContext, callback: Any = None, options: Any = None
) -> asyncio.Task[bool]:
    return start_segment_fetch(
        manager, user.user_id, user.set_qualified_segments, callback, options
    )


async def test_awaited_fetch_stores_segments_used_by_decisions(
    manager: OdpManager, client: Client, odp: OdpServer
) -> None:
    user = client.create_user_context("u1")
    assert user.decide("checkout").rule_key == "everyone_else"
    task = fetch(manager, user)
    assert isinstance(task, asyncio.Task)
    assert await task is True
    assert user.get_qualified_segments() == ["vip"]
    assert user.is_qualified_for("vip")
    assert not user.is_qualified_for("gold")
    assert user.decide("checkout").rule_key == "us_rule"  # the qualified audience matches
    assert odp.graphql[0].json["variables"]["audiences"] == ["vip"]


async def test_plain_callback_gets_the_flag_after_the_segments_are_stored(
    manager: OdpManager, client: Client
) -> None:
    user = client.create_user_context("u1")
    seen: list[tuple[bool, list[str] | None]] = []
    task = fetch(manager, user, lambda ok: seen.append((ok, user.get_qualified_segments())))
    assert await task is True
    assert seen == [(True, ["vip"])]


async def test_coroutine_callback_is_awaited_inside_the_task(
    manager: OdpManager, client: Client
) -> None:
    user = client.create_user_context("u1")
    seen: list[bool] = []
    step = asyncio.Event()

    async def callback(ok: bool) -> None:
        step.set()
        await asyncio.sleep(0)
        seen.append(ok)

    task = fetch(manager, user, callback, [OdpOption.IGNORE_CACHE])
    assert await task is True
    assert step.is_set()
    assert seen == [True]


async def test_failure_keeps_the_previous_segments_and_reports_false(
    manager: OdpManager, client: Client, odp: OdpServer
) -> None:
    user = client.create_user_context("u1")
    user.set_qualified_segments(["earlier"])
    odp.graphql_script.append(Reply(status=502))
    seen: list[bool] = []
    assert await fetch(manager, user, seen.append) is False
    assert seen == [False]
    assert user.get_qualified_segments() == ["earlier"]


async def test_callback_errors_are_logged_and_do_not_change_the_result(
    manager: OdpManager, client: Client, caplog: pytest.LogCaptureFixture
) -> None:
    user = client.create_user_context("u1")

    def broken(ok: bool) -> None:
        raise RuntimeError("boom")

    assert await fetch(manager, user, broken) is True
    [record] = [r for r in caplog.records if r.name == "asyncexp.odp"]
    assert record.levelno == logging.ERROR
    assert record.exc_info is not None


async def test_a_dropped_task_is_kept_and_awaited_at_close(odp: OdpServer, client: Client) -> None:
    transport = HttpTransport()
    manager = OdpManager(lambda: transport)
    assert client.config is not None
    manager.update_config(replace(client.config, odp_host=odp.url, odp_public_key=API_KEY))
    user = client.create_user_context("u1")
    seen: list[bool] = []
    odp.gate.clear()

    async def callback(ok: bool) -> None:
        seen.append(ok)

    fetch(manager, user, callback)  # the task is not kept by the caller
    gc.collect()
    await odp.wait_until(lambda s: len(s.graphql) == 1)
    closing = asyncio.ensure_future(manager.aclose(30))
    await asyncio.sleep(0)
    assert not closing.done()  # close waits for the fetch …
    odp.gate.set()
    await closing
    assert seen == [True]  # … which completed, callback included
    assert user.get_qualified_segments() == ["vip"]
    await transport.aclose()


async def test_a_task_started_just_before_close_still_fetches(
    manager: OdpManager, client: Client, odp: OdpServer
) -> None:
    user = client.create_user_context("u1")
    task = fetch(manager, user)  # created, not yet run
    await manager.aclose()
    assert await task is True
    assert user.get_qualified_segments() == ["vip"]
    assert await manager.fetch_segments("u1") is None  # after close: refused
    assert manager.stats.segments.failures == {"closed": 1}


async def test_at_the_close_deadline_a_plain_callback_still_hears_false(
    odp: OdpServer, client: Client
) -> None:
    transport = HttpTransport()
    manager = OdpManager(lambda: transport)
    assert client.config is not None
    manager.update_config(replace(client.config, odp_host=odp.url, odp_public_key=API_KEY))
    odp.gate.clear()
    plain: list[bool] = []
    coro: list[bool] = []

    async def async_callback(ok: bool) -> None:
        coro.append(ok)

    user = client.create_user_context("u1")
    first = fetch(manager, user, plain.append)
    second = fetch(manager, user, async_callback)
    await odp.wait_until(lambda s: len(s.graphql) == 1)
    await manager.aclose(0)
    assert first.cancelled()
    assert second.cancelled()
    assert plain == [False]
    assert coro == []
    assert user.get_qualified_segments() is None
    await transport.aclose()


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"options": 5}, ArgumentTypeError),
        ({"options": [OdpOption.RESET_CACHE, 1]}, ArgumentTypeError),
        ({"callback": "not callable"}, ArgumentTypeError),
        ({"user_id": None}, ArgumentTypeError),
    ],
)
async def test_bad_arguments_raise_at_the_call_site(
    manager: OdpManager, kwargs: dict[str, Any], error: type[Exception]
) -> None:
    args: dict[str, Any] = {"user_id": "u", "on_segments": lambda s: None}
    args.update(kwargs)
    with pytest.raises(error):
        start_segment_fetch(manager, **args)
    assert manager.stats.segments.fetches == 0


async def test_after_close_the_call_raises(manager: OdpManager) -> None:
    await manager.aclose()
    with pytest.raises(ClientClosedError):
        start_segment_fetch(manager, "u", lambda s: None)


def test_outside_a_running_loop_the_call_raises() -> None:
    manager = OdpManager(HttpTransport)
    manager.update_config(make_config("http://127.0.0.1:9"))
    with pytest.raises(ClientStateError, match="running event loop"):
        start_segment_fetch(manager, "u", lambda s: None, options="IGNORE_CACHE")


async def test_single_string_option_is_one_option(
    manager: OdpManager, client: Client, odp: OdpServer
) -> None:
    user = client.create_user_context("u1")
    assert await fetch(manager, user, options="IGNORE_CACHE") is True
    assert await fetch(manager, user) is True
    assert len(odp.graphql) == 2  # the first fetch did not save to the cache
    assert manager.stats.segments.cache_hits == 0
