"""A local ingestion server (aiohttp) that speaks both wire formats.

* ``POST /up``: Analysys. The body is Base64(Gzip(JSON array)) or the plain JSON
  array; the reply is ``{"code":200}`` as Base64(Gzip) (or plain with
  ``plain_responses=True``).
* ``POST /v1/events``: Optimizely event batches (JSON); the reply is 204.
* ``POST /batch/``: PostHog's capture batch (``{"api_key", "batch": [...]}``, JSON or
  gzip), for benchmarks against the PostHog client; only counted
  (:attr:`IngestionServer.posthog_count`), the reply is 200 ``{"status": 1}``.

Everything received is kept in :attr:`IngestionServer.requests`; records and
batches whose request was answered with success are also in
:attr:`IngestionServer.records` and :attr:`IngestionServer.event_batches`.
Replies can be scripted per path (status, Analysys code, ``Retry-After``, a
hang until :meth:`IngestionServer.release` or close; a hung request never
counts as received), and tests can await
what arrives with :meth:`IngestionServer.wait_until` (no sleeping).

It binds to 127.0.0.1 and an ephemeral port unless told otherwise::

    async with IngestionServer() as server:
        collector = BatchCollector(server.url)
        ...
        await server.wait_until(lambda s: len(s.records) >= 3)
"""

from __future__ import annotations

import asyncio
import base64
import functools
import gzip
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import orjson
from aiohttp import web

from asyncexp.testing.loopback import LoopbackSite

__all__ = ["IngestionServer", "ReceivedRequest", "Reply"]

Kind = Literal["analysys", "optimizely"]
BodyEncoding = Literal["gzip+base64", "json", "invalid"]


@dataclass(frozen=True, slots=True)
class Reply:
    """How to answer one request; ``code`` is the Analysys body code (``None``: none)."""

    status: int = 200
    code: int | None = 200
    retry_after: str | None = None
    body: bytes | None = None
    hang: bool = False


@dataclass(frozen=True, slots=True)
class ReceivedRequest:
    kind: Kind
    path: str
    query: Mapping[str, str]
    headers: Mapping[str, str]
    raw: bytes
    encoding: BodyEncoding
    payload: Any
    reply: Reply


def _decode_up(raw: bytes) -> tuple[BodyEncoding, Any]:
    text = raw.strip()
    try:
        if text[:1] == b"[":
            return "json", orjson.loads(text)
        return "gzip+base64", orjson.loads(gzip.decompress(base64.b64decode(text, validate=True)))
    except (ValueError, OSError, EOFError):
        return "invalid", None


@functools.lru_cache(maxsize=64)
def _code_body(code: int | None, plain: bool) -> bytes:
    """The Analysys reply body for ``code``: made once per code, not gzipped per request."""
    body = b"" if code is None else orjson.dumps({"code": code})
    if not plain and body:
        body = base64.b64encode(gzip.compress(body, mtime=0))
    return body


@dataclass
class IngestionServer:
    host: str = "127.0.0.1"
    port: int = 0
    plain_responses: bool = False
    keep_payloads: bool = True
    """False keeps only the counters (for benchmarks)."""
    requests: list[ReceivedRequest] = field(default_factory=list)
    records: list[dict[str, Any]] = field(default_factory=list)
    event_batches: list[dict[str, Any]] = field(default_factory=list)
    record_count: int = 0
    event_count: int = 0
    request_count: int = 0
    posthog_count: int = 0
    """Events received on ``/batch/`` (PostHog's format)."""

    def __post_init__(self) -> None:
        self.app = web.Application(client_max_size=64 * 1024 * 1024)
        self.app.router.add_post("/up", self._analysys)
        self.app.router.add_post("/v1/events", self._optimizely)
        self.app.router.add_post("/batch/", self._posthog)
        self._site = LoopbackSite(self.app, self.host, self.port)
        self._scripts: dict[Kind, deque[Reply]] = {"analysys": deque(), "optimizely": deque()}
        self._defaults: dict[Kind, Reply] = {
            "analysys": Reply(),
            "optimizely": Reply(status=204, code=None),
        }
        self._changed = asyncio.Event()
        self._released = asyncio.Event()

    # -- lifecycle ----------------------------------------------------------------------------
    async def start(self) -> IngestionServer:
        await self._site.start()
        return self

    async def aclose(self) -> None:
        self._released.set()
        await self._site.aclose()

    async def __aenter__(self) -> IngestionServer:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    @property
    def url(self) -> str:
        """The base URL, e.g. for ``BatchCollector(server.url)`` (``/up`` is appended)."""
        return self._site.url

    @property
    def events_url(self) -> str:
        """The Optimizely events endpoint, for ``optimizely_events_url=``."""
        return f"{self.url}/v1/events"

    # -- behaviour hooks --------------------------------------------------------------------
    def script(self, kind: Kind, *replies: Reply) -> None:
        """Answer the next requests of ``kind`` with ``replies``, then the default again."""
        self._scripts[kind].extend(replies)

    def set_default(self, kind: Kind, reply: Reply) -> None:
        self._defaults[kind] = reply

    def release(self) -> None:
        """Let every hanging request (``Reply(hang=True)``) finish."""
        self._released.set()

    async def wait_until(self, predicate: Callable[[IngestionServer], bool]) -> None:
        """Return once ``predicate(self)`` is true; it is checked after every request."""
        while not predicate(self):
            self._changed.clear()
            await self._changed.wait()

    # -- handlers -----------------------------------------------------------------------------
    def _next_reply(self, kind: Kind) -> Reply:
        script = self._scripts[kind]
        return script.popleft() if script else self._defaults[kind]

    async def _answer(self, reply: Reply, body: bytes, content_type: str) -> web.Response:
        if reply.hang:
            await self._released.wait()
        headers = {"Retry-After": reply.retry_after} if reply.retry_after is not None else None
        return web.Response(
            status=reply.status, body=body, headers=headers, content_type=content_type
        )

    def _note(
        self,
        request: web.Request,
        kind: Kind,
        raw: bytes,
        encoding: BodyEncoding,
        payload: Any,
        reply: Reply,
    ) -> None:
        self.request_count += 1
        if self.keep_payloads:  # counters only: no per-request copies (the same for every client)
            self.requests.append(
                ReceivedRequest(
                    kind,
                    request.path,
                    dict(request.query),
                    dict(request.headers),
                    raw,
                    encoding,
                    payload,
                    reply,
                )
            )
        self._changed.set()

    async def _analysys(self, request: web.Request) -> web.Response:
        raw = await request.read()
        encoding, payload = _decode_up(raw)
        reply = self._next_reply("analysys")
        if encoding == "invalid" or not isinstance(payload, list):
            reply = Reply(status=200, code=400)
        success = 200 <= reply.status <= 299 and reply.code == 200 and not reply.hang
        if success:
            self.record_count += len(payload)
            if self.keep_payloads:
                self.records.extend(payload)
        self._note(request, "analysys", raw, encoding, payload, reply)
        body = reply.body
        if body is None:
            body = _code_body(reply.code, self.plain_responses)
        return await self._answer(reply, body, "text/plain")

    async def _optimizely(self, request: web.Request) -> web.Response:
        raw = await request.read()
        try:
            payload = orjson.loads(raw)
        except ValueError:
            payload = None
        reply = self._next_reply("optimizely")
        if not isinstance(payload, dict) or not isinstance(payload.get("visitors"), list):
            reply = Reply(status=400, code=None)
        if 200 <= reply.status <= 299 and not reply.hang:
            assert isinstance(payload, dict)
            self.event_count += len(payload["visitors"])
            if self.keep_payloads:
                self.event_batches.append(payload)
        encoding: Literal["json", "invalid"] = "json" if payload is not None else "invalid"
        self._note(request, "optimizely", raw, encoding, payload, reply)
        return await self._answer(reply, reply.body or b"", "application/json")

    async def _posthog(self, request: web.Request) -> web.Response:
        raw = await request.read()
        try:
            if raw[:2] == b"\x1f\x8b":  # gzip that the server did not inflate itself
                raw = gzip.decompress(raw)
            payload = orjson.loads(raw)
        except (ValueError, OSError, EOFError):
            payload = None
        batch = payload.get("batch") if isinstance(payload, dict) else None
        if not isinstance(batch, list):
            return web.json_response({"detail": "expected a batch"}, status=400)
        self.posthog_count += len(batch)
        self.request_count += 1
        self._changed.set()
        return web.json_response({"status": 1})
