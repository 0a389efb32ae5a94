"""HttpTransport and the retry policy helpers."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any

import aiohttp
import pytest
from aioresponses import aioresponses

from asyncexp.aio.http import (
    Attempt,
    HttpResponse,
    HttpTransport,
    RetryPolicy,
    TransportError,
    attempt_from_status,
    call_with_retries,
    is_retryable_status,
    parse_retry_after,
)
from asyncexp.errors import ClientClosedError
from asyncexp.testing import IngestionServer, Reply


async def test_post_returns_status_headers_and_body(server: IngestionServer) -> None:
    server.plain_responses = True
    transport = HttpTransport()
    response = await transport.post(server.url + "/up", b"[]", timeout=5)
    assert response.status == 200
    assert response.body == b'{"code":200}'
    assert response.headers["Content-Type"].startswith("text/plain")
    assert server.requests[0].headers["User-Agent"].startswith("asyncexp/")
    await transport.aclose()
    await transport.aclose()
    assert transport.closed
    with pytest.raises(ClientClosedError):
        await transport.get(server.url)


async def test_timeout_raises_transport_error(server: IngestionServer) -> None:
    server.script("analysys", Reply(hang=True))
    transport = HttpTransport()
    with pytest.raises(TransportError, match="timed out") as info:
        await transport.post(server.url + "/up", b"[]", timeout=0.05)
    assert info.value.timed_out
    await transport.aclose()


async def test_body_size_is_capped(server: IngestionServer) -> None:
    server.script("analysys", Reply(body=b"x" * 5000))
    transport = HttpTransport(max_response_bytes=1000)
    with pytest.raises(TransportError, match="exceeds 1000"):
        await transport.post(server.url + "/up", b"[]")
    await transport.aclose()


async def test_connection_errors_are_wrapped() -> None:
    transport = HttpTransport()
    with aioresponses() as mocked:
        mocked.post("http://ingest.invalid/up", exception=aiohttp.ClientConnectionError("reset"))
        with pytest.raises(TransportError, match="ClientConnectionError: reset") as info:
            await transport.post("http://ingest.invalid/up", b"[]")
    assert not info.value.timed_out
    await transport.aclose()


def test_retryable_statuses() -> None:
    assert [s for s in (200, 400, 404, 408, 429, 500, 503, 599) if is_retryable_status(s)] == [
        429,
        500,
        503,
        599,
    ]


def test_parse_retry_after() -> None:
    now = datetime(2024, 1, 1, 0, 0, 0, tzinfo=UTC).timestamp()
    assert parse_retry_after("120", now) == 120.0
    assert parse_retry_after(" 1.5 ", now) == 1.5
    assert parse_retry_after("-3", now) == 0.0
    date = format_datetime(datetime(2024, 1, 1, 0, 0, 30, tzinfo=UTC), usegmt=True)
    assert parse_retry_after(date, now) == 30.0
    assert parse_retry_after("soon", now) is None
    assert parse_retry_after(None, now) is None


def test_attempt_from_status() -> None:
    def resp(status: int, **headers: str) -> HttpResponse:
        return HttpResponse(status, headers, b"")

    assert attempt_from_status(resp(204)).ok
    slow = attempt_from_status(resp(503, **{"Retry-After": "4"}))
    assert (slow.retryable, slow.retry_after) == (True, 4.0)
    assert attempt_from_status(resp(404)) == Attempt(False, False, "rejected", None, "HTTP 404")


def test_backoff_is_exponential_capped_and_jittered() -> None:
    policy = RetryPolicy(base_delay=1.0, max_delay=8.0, max_retry_after=60.0)
    assert [policy.delay(n, 0.0) for n in range(5)] == [0.5, 1.0, 2.0, 4.0, 4.0]
    assert [policy.delay(n, 1.0) for n in range(5)] == [1.0, 2.0, 4.0, 8.0, 8.0]
    assert policy.delay(0, 0.0, retry_after=30.0) == 30.0
    assert policy.delay(0, 0.0, retry_after=600.0) == 60.0


async def test_call_with_retries_stops_on_final_and_on_budget() -> None:
    outcomes = iter([Attempt(False, True), Attempt(False, False, "rejected")])
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)
        await asyncio.sleep(0)

    async def attempt() -> Attempt:
        return next(outcomes)

    seen: list[Any] = []
    result = await call_with_retries(
        attempt,
        RetryPolicy(max_retries=5),
        sleep=sleep,
        jitter=lambda: 0.0,
        on_retry=lambda a, d: seen.append(d),
    )
    assert result.reason == "rejected"
    assert slept == seen == [0.25]

    async def always() -> Attempt:
        return Attempt(False, True)

    result = await call_with_retries(
        always, RetryPolicy(max_retries=2), sleep=sleep, jitter=lambda: 0.0
    )
    assert result.retryable
    assert len(slept) == 3
