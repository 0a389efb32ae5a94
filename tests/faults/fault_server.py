"""A switchable fault-injecting Analysys ingestion server for the fault suite.

A real aiohttp server on 127.0.0.1 (port 0 at first start, then the *same* port
after every :meth:`FaultServer.down` / :meth:`FaultServer.up`) whose answer to
``POST /up`` is chosen by :attr:`FaultServer.mode`, switchable at any time:

* ``ok``: ``{"code":200}`` (Base64(Gzip)), the records are acknowledged;
* ``500`` / ``503``: that HTTP status; ``code500``: HTTP 200 with ``{"code":500}``;
* ``429``: HTTP 429 with ``Retry-After: <retry_after>``;
* ``hang``: the body is read, then no answer until the mode changes, the server
  goes down (the connection is aborted) or it closes; the client's
  ``request_timeout`` must give up first;
* ``reset_request``: a few bytes of the request body are read, then the TCP
  connection is aborted (RST);
* ``reset_response``: the headers announce a success body, a few bytes of it
  are written, then the connection is aborted;
* ``drip``: the success body is sent one byte at a time with a short pause
  between bytes (slow but correct: it must be delivered);
* ``garbage``: HTTP 200 with a body that is neither JSON nor Base64(Gzip);
* ``oversized`` / ``oversized_chunked``: HTTP 200 with a body larger than the
  transport's response cap, announced by ``Content-Length`` or streamed chunked;
* ``down`` is not a mode but a state: :meth:`down` closes the listener and every
  open connection, :meth:`up` listens again on the same port.

Counting: :attr:`received` counts each ``n`` property of every record in a
request body the server read completely (whatever it answered, so resends show up
as duplicates); :attr:`acked` counts those of requests answered with success.
Tests wait with :meth:`wait_until` (woken on every request event), never by
sleeping.

With ``ssl_context`` the server speaks HTTPS (the TLS fault).
"""

from __future__ import annotations

import asyncio
import base64
import gzip
import ssl
from collections import Counter
from collections.abc import Callable
from typing import Any, Literal

import orjson
from aiohttp import web

from asyncexp.aio.collectors.wire import ANALYSYS_SUCCESS_BODY
from asyncexp.aio.http import DEFAULT_MAX_RESPONSE_BYTES

__all__ = ["MODES", "FaultServer", "Mode", "decode_records"]

Mode = Literal[
    "ok",
    "500",
    "503",
    "code500",
    "429",
    "hang",
    "reset_request",
    "reset_response",
    "drip",
    "garbage",
    "oversized",
    "oversized_chunked",
]
MODES: tuple[Mode, ...] = (
    "ok",
    "500",
    "503",
    "code500",
    "429",
    "hang",
    "reset_request",
    "reset_response",
    "drip",
    "garbage",
    "oversized",
    "oversized_chunked",
)
_CODE500_BODY = base64.b64encode(gzip.compress(b'{"code":500}', mtime=0))
_OVERSIZED = DEFAULT_MAX_RESPONSE_BYTES + 4096


def decode_records(raw: bytes) -> list[dict[str, Any]] | None:
    """The records of an ``/up`` body (plain JSON or Base64(Gzip(JSON))), or ``None``."""
    text = raw.strip()
    try:
        if text[:1] == b"[":
            payload = orjson.loads(text)
        else:
            payload = orjson.loads(gzip.decompress(base64.b64decode(text, validate=True)))
    except (ValueError, OSError, EOFError):
        return None
    return payload if isinstance(payload, list) else None


class FaultServer:
    """See the module docstring. Use as ``async with FaultServer() as server:``."""

    def __init__(
        self,
        *,
        mode: Mode = "ok",
        host: str = "127.0.0.1",
        ssl_context: ssl.SSLContext | None = None,
        retry_after: str = "1",
        drip_pause: float = 0.002,
    ) -> None:
        self.host = host
        self.ssl_context = ssl_context
        self.retry_after = retry_after
        self.drip_pause = drip_pause
        self._mode: Mode = mode
        self.received: Counter[int] = Counter()
        """``n`` of every record in a completely read body (duplicates kept)."""
        self.acked: Counter[int] = Counter()
        """``n`` of every record in a request answered with success."""
        self.bad_records = 0
        """Records without an integer ``n`` (must stay 0: nothing is invented)."""
        self.requests = 0
        """Requests that reached a handler (in any mode)."""
        self.answered: Counter[str] = Counter()
        """Requests by the mode that handled them."""
        self.hanging = 0
        """Requests held by ``hang`` right now."""
        self._port: int | None = None
        self._runner: web.AppRunner | None = None
        self._changed = asyncio.Event()
        self._mode_changed = asyncio.Event()
        self._closing = False

    # -- lifecycle ------------------------------------------------------------------------
    async def start(self) -> FaultServer:
        await self.up()
        return self

    async def up(self) -> None:
        """Listen (again): on an ephemeral port the first time, on the same port after."""
        if self._runner is not None:
            return
        app = web.Application(client_max_size=64 << 20)
        app.router.add_post("/up", self._handle)
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await runner.setup()
        site = web.TCPSite(
            runner, self.host, self._port or 0, ssl_context=self.ssl_context, reuse_address=True
        )
        await site.start()
        self._port = int(runner.addresses[0][1])
        self._runner = runner
        self._notify()

    async def down(self) -> None:
        """Close the listener and every connection (hung requests are aborted)."""
        runner, self._runner = self._runner, None
        if runner is None:
            return
        self._wake_hangs()  # hung handlers see the server is down and abort their connection
        await runner.cleanup()
        self._notify()

    @property
    def is_up(self) -> bool:
        return self._runner is not None

    async def aclose(self) -> None:
        self._closing = True
        await self.down()

    async def __aenter__(self) -> FaultServer:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError("the server was never started")
        return self._port

    @property
    def url(self) -> str:
        scheme = "https" if self.ssl_context is not None else "http"
        return f"{scheme}://{self.host}:{self.port}"

    # -- behaviour ------------------------------------------------------------------------
    @property
    def mode(self) -> Mode:
        return self._mode

    def set_mode(self, mode: Mode) -> None:
        """Answer later requests with ``mode``; requests hanging now are let go."""
        if mode not in MODES:
            raise ValueError(f"unknown mode {mode!r}")
        self._mode = mode
        self._wake_hangs()
        self._notify()

    def unique_received(self) -> set[int]:
        return set(self.received)

    async def wait_until(self, predicate: Callable[[FaultServer], bool]) -> None:
        """Return once ``predicate(self)`` holds; re-checked after every request event.

        Callers bound the wait with ``asyncio.timeout``.
        """
        while not predicate(self):
            self._changed.clear()
            await self._changed.wait()

    # -- internals ------------------------------------------------------------------------
    def _notify(self) -> None:
        self._changed.set()

    def _wake_hangs(self) -> None:
        self._mode_changed.set()
        self._mode_changed = asyncio.Event()

    def _count(self, raw: bytes, into: list[Counter[int]]) -> None:
        records = decode_records(raw)
        for record in records or ():
            context = record.get("xcontext") if isinstance(record, dict) else None
            n = context.get("n") if isinstance(context, dict) else None
            if type(n) is not int:
                self.bad_records += 1
                continue
            for counter in into:
                counter[n] += 1

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        mode = self._mode
        self.requests += 1
        self.answered[mode] += 1
        try:
            return await self._answer(request, mode)
        finally:
            self._notify()

    async def _answer(self, request: web.Request, mode: Mode) -> web.StreamResponse:
        if mode == "reset_request":
            await request.content.read(8)  # part of the body, then RST
            return self._abort(request)
        raw = await request.read()
        if mode == "ok":
            self._count(raw, [self.received, self.acked])
            return web.Response(body=ANALYSYS_SUCCESS_BODY, content_type="text/plain")
        self._count(raw, [self.received])
        if mode in ("500", "503"):
            return web.Response(status=int(mode), text="unavailable")
        if mode == "code500":
            return web.Response(body=_CODE500_BODY, content_type="text/plain")
        if mode == "429":
            return web.Response(status=429, headers={"Retry-After": self.retry_after})
        if mode == "hang":
            return await self._hang(request)
        if mode == "reset_response":
            response = web.StreamResponse(headers={"Content-Length": "4096"})
            await response.prepare(request)
            await response.write(ANALYSYS_SUCCESS_BODY[:10])
            return self._abort(request)
        if mode == "drip":
            response = web.StreamResponse(
                headers={"Content-Length": str(len(ANALYSYS_SUCCESS_BODY))}
            )
            await response.prepare(request)
            for i in range(len(ANALYSYS_SUCCESS_BODY) - 1):
                await response.write(ANALYSYS_SUCCESS_BODY[i : i + 1])
                await asyncio.sleep(self.drip_pause)
            self._count(raw, [self.acked])  # before the last byte: the client cannot be ahead
            await response.write(ANALYSYS_SUCCESS_BODY[-1:])
            await response.write_eof()
            return response
        if mode == "garbage":
            return web.Response(body=b"\x00\xffnot json, not base64 <html>", status=200)
        if mode == "oversized":
            return web.Response(body=b"x" * _OVERSIZED)
        if mode == "oversized_chunked":
            response = web.StreamResponse()
            response.enable_chunked_encoding()
            await response.prepare(request)
            chunk = b"x" * 65536
            try:
                for _ in range(_OVERSIZED // len(chunk) + 1):
                    await response.write(chunk)
            except ConnectionError:  # the client stopped reading at its cap and closed
                return response
            await response.write_eof()
            return response
        raise AssertionError(f"unhandled mode {mode!r}")

    async def _hang(self, request: web.Request) -> web.StreamResponse:
        self.hanging += 1
        self._notify()
        try:
            await self._mode_changed.wait()
        finally:
            self.hanging -= 1
        if self._runner is None or self._closing:  # went down while hanging: drop the line
            return self._abort(request)
        return web.Response(status=503, text="released")

    @staticmethod
    def _abort(request: web.Request) -> web.StreamResponse:
        transport = request.transport
        if transport is not None:
            transport.abort()
        # aiohttp cannot write to an aborted transport; a handler must still return
        raise asyncio.CancelledError
