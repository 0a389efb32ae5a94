"""ODP through the client: awaited and callback fetches, qualified audiences, events."""

from __future__ import annotations

import asyncio

import pytest

from asyncexp import Client, OdpOption, ValidationError
from tests.aio.odp_server import API_KEY, OdpServer
from tests.datafiles import base_datafile


def datafile_for(host: str) -> dict[str, object]:
    doc = base_datafile()
    doc["integrations"] = [{"key": "odp", "host": host, "publicKey": API_KEY}]
    # The targeted delivery rule of "checkout" asks for the "vip" segment.
    doc["rollouts"][0]["experiments"][0]["audienceIds"] = ["aud_vip"]
    return doc


async def test_fetch_then_decide_on_a_qualified_audience() -> None:
    async with OdpServer() as server:
        server.qualified = {"u1": {"vip"}}
        async with Client(datafile=datafile_for(server.url)) as client:
            user = client.create_user_context("u1", {"age": 5})
            assert user.decide("checkout").rule_key == "everyone_else"
            assert await user.fetch_qualified_segments() is True
            assert user.get_qualified_segments() == ["vip"]
            assert user.decide("checkout").rule_key == "us_rule"
            # A second fetch is a cache hit: still one request.
            assert await user.fetch_qualified_segments() is True
            assert await user.fetch_qualified_segments(options=[OdpOption.IGNORE_CACHE])
        assert len(server.graphql) == 2
        body = server.graphql[0].json
        assert body["variables"] == {"userId": "u1", "audiences": ["vip"]}
        assert server.graphql[0].headers["x-api-key"] == API_KEY


async def test_callback_fetch_and_close_drains_events() -> None:
    done: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
    async with OdpServer() as server:
        server.qualified = {"u2": set()}
        async with Client(datafile=datafile_for(server.url)) as client:
            user = client.create_user_context("u2")
            user.fetch_qualified_segments(callback=done.set_result)
            assert await done is True
            client.send_odp_event("purchase", identifiers={"email": "a@b.c"}, data={"n": 1})
        # Leaving the block flushed the ODP event queue.
        assert server.event_count == 1


async def test_disabled_odp_fetch_fails_without_requests() -> None:
    async with OdpServer() as server:
        client = Client(datafile=datafile_for(server.url), odp_disabled=True)
        async with client:
            user = client.create_user_context("u3")
            assert await user.fetch_qualified_segments() is False
            assert user.get_qualified_segments() is None
            with pytest.raises(ValidationError, match="action"):
                client.send_odp_event("", identifiers={"email": "x"})
        assert server.graphql == []
