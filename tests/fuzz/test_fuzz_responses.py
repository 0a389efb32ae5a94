"""Fuzzing what servers send back: Analysys ``/up`` answers, ODP GraphQL answers and
datafile bodies, through the functions and shell paths that read them.

Contracts checked:

* ``analysys_response_code`` returns an int or None for any body;
  ``decode_analysys_body`` returns bytes (at most its limit when it inflated them)
  or raises ``ValueError``. Gzip bombs stop at the limit.
* ``parse_segments_response`` returns the qualified names or raises its
  ``_FetchError``; ``OdpManager.fetch_segments`` returns a list or None and never
  raises, whatever the server answers.
* A datafile body given to ``DatafileSource`` never escapes as an exception: a
  fetch answered 200 is handled (the body applied or counted as invalid) and the
  polling task keeps running.
"""

from __future__ import annotations

import asyncio
import base64
import gzip
import json
import logging
import zlib
from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from asyncexp.aio import datafile_source
from asyncexp.aio.collectors.wire import (
    MAX_RESPONSE_JSON,
    analysys_response_code,
    decode_analysys_body,
)
from asyncexp.aio.datafile_source import REPORTED_BODIES, DatafileSource
from asyncexp.aio.http import HttpResponse
from asyncexp.aio.odp import OdpManager
from asyncexp.aio.odp.segments import _FetchError, parse_segments_response
from asyncexp.core.flags.datafile import ProjectConfig
from tests.aio.odp_server import make_config
from tests.datafiles import base_datafile
from tests.fuzz.profile import fuzz
from tests.fuzz.strategies import (
    deep_text,
    json_values,
    mutated_bytes,
    mutated_documents,
    named,
    seed_datafiles,
)


def gzip64(data: bytes) -> bytes:
    return base64.b64encode(gzip.compress(data, mtime=0))


# -- Analysys --------------------------------------------------------------------------------


def check_analysys(body: bytes) -> None:
    code = analysys_response_code(body)
    assert code is None or (isinstance(code, int) and not isinstance(code, bool))
    try:
        decoded = decode_analysys_body(body)
    except ValueError:
        return
    assert isinstance(decoded, bytes)
    if body.strip()[:1] not in (b"{", b"["):
        assert len(decoded) <= MAX_RESPONSE_JSON


def _json_bytes(value: Any) -> bytes:
    try:
        return orjson.dumps(value)
    except orjson.JSONEncodeError:
        return b"{}"


ANALYSYS_BODIES = st.one_of(
    st.binary(max_size=64),
    json_values(max_leaves=6).map(_json_bytes),
    json_values(max_leaves=6).map(lambda v: gzip64(_json_bytes(v))),
    st.fixed_dictionaries({"code": json_values(max_leaves=2)}).map(
        lambda v: gzip64(_json_bytes(v))
    ),
    st.binary(max_size=64).map(base64.b64encode),
    st.binary(max_size=64).map(lambda b: gzip64(b)[: max(1, len(b) // 2)]),  # truncated
    st.binary(max_size=32).map(lambda b: base64.b64encode(gzip.compress(b) + b"trailing")),
    named(
        {
            "empty": b"",
            "spaces": b"   ",
            "gzip magic only": b"H4sI",
            "plain success": b'{"code":200}',
            "padded success": b' \n{"code":200}\n',
            "bool code": b'{"code":true}',
            "float code": b'{"code":2e2}',
            "huge code": b'{"code":99999999999999999999999}',
            "5000-digit code": b'{"code":' + b"9" * 5000 + b"}",
            "2000 brackets": b"[" * 2000,
            "10000 levels": deep_text(10_000).encode(),
            "not utf-8": b"\xff\xfe\x00",
            "gzip success": gzip64(b'{"code":200}' + b" " * 10),
            "zlib, not gzip": base64.b64encode(zlib.compress(b'{"code":200}')),
        }
    ),
)


@fuzz(500)
@given(ANALYSYS_BODIES)
def test_analysys_responses(body: bytes) -> None:
    check_analysys(body)


@pytest.mark.parametrize("size", [MAX_RESPONSE_JSON + 1, 50 * 1024 * 1024])
def test_analysys_gzip_bomb_stops_at_the_limit(size: int) -> None:
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31)
    packed = b"".join(compressor.compress(b" " * (1 << 20)) for _ in range(size >> 20))
    packed += compressor.compress(b" " * (size & ((1 << 20) - 1))) + compressor.flush()
    body = base64.b64encode(packed)
    with pytest.raises(ValueError, match="exceeds"):
        decode_analysys_body(body)
    assert analysys_response_code(body) is None


# -- ODP GraphQL -------------------------------------------------------------------------------


def graphql_answer() -> dict[str, Any]:
    edges = [
        {"node": {"name": "vip", "state": "qualified"}},
        {"node": {"name": "gold", "state": "not_qualified"}},
    ]
    return {"data": {"customer": {"audiences": {"edges": edges}}}}


def graphql_error() -> dict[str, Any]:
    return {
        "errors": [
            {
                "message": "Exception while fetching data",
                "extensions": {"classification": "DataFetchingException", "code": "X"},
            }
        ],
        "data": {"customer": None},
    }


GRAPHQL_SEEDS = st.sampled_from([graphql_answer, graphql_error]).map(lambda make: make())


def _text_forms(value: Any) -> bytes:
    """JSON text of ``value`` (NaN and big ints included, as a lax server would write)."""
    try:
        return json.dumps(value).encode("utf-8", "surrogatepass")
    except RecursionError:  # a "nest" mutation: send the nesting as text instead
        return deep_text(10_000).encode()
    except ValueError:
        return b"{}"


GRAPHQL_BODIES = st.one_of(
    st.binary(max_size=64),
    json_values(max_leaves=12).map(_text_forms),
    mutated_documents(GRAPHQL_SEEDS).map(_text_forms),
    named(
        {
            "empty": b"",
            "null": b"null",
            "no errors": b'{"errors": []}',
            "errors object": b'{"errors": {}}',
            "null error": b'{"errors": [null]}',
            "null edge": b'{"data": {"customer": {"audiences": {"edges": [null]}}}}',
            "string edges": b'{"data": {"customer": {"audiences": {"edges": "x"}}}}',
            "10000 levels": deep_text(10_000).encode(),
            "not utf-8": b"\xff",
        }
    ),
)


def check_segments(body: bytes) -> None:
    try:
        names = parse_segments_response(body)
    except _FetchError as failure:
        error = failure
    else:
        assert isinstance(names, list)
        assert all(isinstance(name, str) for name in names)
        return
    assert error.reason


@fuzz(500)
@given(GRAPHQL_BODIES)
def test_graphql_segment_responses(body: bytes) -> None:
    check_segments(body)


class FakeTransport:
    """Answers every request with the next scripted response; nothing leaves the process."""

    def __init__(self, responses: list[HttpResponse]) -> None:
        self.responses = responses
        self.requests = 0

    async def request(self, method: str, url: str, **kwargs: Any) -> HttpResponse:
        response = self.responses[min(self.requests, len(self.responses) - 1)]
        self.requests += 1
        return response

    async def post(self, url: str, data: bytes, **kwargs: Any) -> HttpResponse:
        return await self.request("POST", url)

    async def get(self, url: str, **kwargs: Any) -> HttpResponse:
        return await self.request("GET", url)


STATUSES = st.sampled_from([200, 200, 200, 204, 301, 400, 401, 403, 404, 429, 500, 503])
HEADERS = st.dictionaries(
    st.sampled_from(["ETag", "Last-Modified", "Content-Type", "Retry-After"]),
    st.text(max_size=12),
    max_size=3,
)


@fuzz(200)
@given(st.lists(st.tuples(STATUSES, GRAPHQL_BODIES), min_size=1, max_size=3))
def test_odp_manager_never_raises_on_server_answers(answers: list[tuple[int, bytes]]) -> None:
    async def run() -> None:
        transport = FakeTransport([HttpResponse(s, {}, b) for s, b in answers])
        manager = OdpManager(lambda: transport)  # type: ignore[arg-type, return-value]
        manager.update_config(make_config("http://127.0.0.1:9"))
        try:
            for i in range(len(answers)):
                result = await manager.fetch_segments(f"user-{i}")
                assert result is None or all(isinstance(name, str) for name in result)
        finally:
            await manager.aclose(1)
        failures = manager.stats.segments.failures
        assert "internal_error" not in failures

    asyncio.run(run())


# -- datafile bodies ---------------------------------------------------------------------------

DATAFILE_BODIES = st.one_of(
    st.binary(max_size=100),
    mutated_bytes(),
    mutated_documents().map(_text_forms),
    seed_datafiles().map(lambda d: json.dumps(d).encode()),  # valid, incl. > 128 KiB
    named(
        {
            "empty": b"",
            "10000 levels": deep_text(10_000).encode(),
            "version 5": json.dumps({**base_datafile(), "version": "5"}).encode(),
            "utf-8 bom": b"\xef\xbb\xbf" + json.dumps(base_datafile()).encode(),
            "utf-16": json.dumps(base_datafile()).encode("utf-16"),
        }
    ),
)


async def poll_bodies(responses: list[HttpResponse]) -> tuple[DatafileSource, list[ProjectConfig]]:
    """Start a source on ``responses``: its first fetch in the polling task, the rest by
    ``fetch_once``; the task's sleeps are parked on a future, never on the clock."""
    applied: list[ProjectConfig] = []
    sleeping = asyncio.Event()
    parked: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    async def wait(seconds: float) -> None:
        sleeping.set()
        await parked

    source = DatafileSource("http://127.0.0.1:9/datafile.json", applied.append, wait=wait)
    transport = FakeTransport(responses)
    source.start(transport)  # type: ignore[arg-type]
    task = source._task
    assert task is not None
    asleep = asyncio.ensure_future(sleeping.wait())
    # The first fetch is done once the task sleeps, or it died trying.
    await asyncio.wait([asleep, task], return_when=asyncio.FIRST_COMPLETED)
    asleep.cancel()
    if task.done():
        await source.aclose()
        raise AssertionError("the polling task died") from task.exception()
    for response in responses[1:]:
        assert await source.fetch_once() is (response.status in (200, 304))
    assert not task.done(), "the polling task died"
    await source.aclose()
    return source, applied


@fuzz(250)
@given(st.lists(st.tuples(STATUSES, DATAFILE_BODIES, HEADERS), min_size=1, max_size=3))
def test_datafile_source_survives_any_body(
    answers: list[tuple[int, bytes, dict[str, str]]],
) -> None:
    responses = [HttpResponse(status, headers, body) for status, body, headers in answers]
    source, applied = asyncio.run(poll_bodies(responses))
    assert all(isinstance(config, ProjectConfig) for config in applied)
    stats = source.stats
    assert stats.fetches == len(responses)
    handled = stats.updates + stats.unchanged_revision + stats.errors.get("invalid_datafile", 0)
    assert handled == sum(1 for r in responses if r.status == 200)


def test_datafile_source_reports_each_bad_body_once_and_keeps_the_set_small() -> None:
    bodies = [b"{not json %d" % i for i in range(2_000)]

    async def run() -> DatafileSource:
        source, _ = await poll_bodies([HttpResponse(200, {}, body) for body in bodies])
        return source

    source = asyncio.run(run())
    assert source.stats.errors["invalid_datafile"] == len(bodies)
    assert len(source._reported) <= REPORTED_BODIES  # however many distinct bad bodies come


def test_a_parser_bug_is_an_invalid_body_and_polling_goes_on(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(body: bytes) -> ProjectConfig:
        raise TypeError("a bug in the parser")

    monkeypatch.setattr(datafile_source, "parse_datafile", broken)
    caplog.set_level(logging.ERROR, logger="asyncexp.datafile")
    body = json.dumps(base_datafile()).encode()
    responses = [HttpResponse(200, {}, body)] * 3

    async def run() -> DatafileSource:
        source, applied = await poll_bodies(responses)  # asserts the task is alive
        assert applied == []
        return source

    source = asyncio.run(run())
    assert source.stats.errors == {"invalid_datafile": 3}
    failures = [r for r in caplog.records if "the parser failed" in r.getMessage()]
    assert len(failures) == 1  # once per distinct body, with the traceback
    assert failures[0].exc_info is not None
