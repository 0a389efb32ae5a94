"""Local servers on 127.0.0.1:0 for the deploy-fit tests (HTTP settings, OpenFeature,
webhooks): a datafile host that can be switched to failing, and a forward proxy.

Both record what they got and wake waiters through ``asyncio.Condition``: tests wait
for a request to arrive, never for time to pass.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp import web

from asyncexp.testing import LoopbackSite

__all__ = ["ConnectProxy", "DatafileHost", "ForwardProxy", "Seen"]


@dataclass
class Seen:
    method: str
    url: str
    headers: dict[str, str]


class _Recorder:
    def __init__(self) -> None:
        self.seen: list[Seen] = []
        self._changed = asyncio.Condition()

    async def note(self, request: web.Request, url: str | None = None) -> None:
        async with self._changed:
            self.seen.append(Seen(request.method, url or str(request.url), dict(request.headers)))
            self._changed.notify_all()

    async def wait_for(self, predicate: Callable[[list[Seen]], bool]) -> None:
        async with self._changed:
            await self._changed.wait_for(lambda: predicate(self.seen))

    async def wait_count(self, n: int) -> None:
        await self.wait_for(lambda seen: len(seen) >= n)


class DatafileHost(_Recorder):
    """Serves ``datafile`` (a dict) at any path; ``failing = True`` answers 503.

    ``ssl_context`` serves HTTPS instead (``url`` then starts with https://)."""

    def __init__(self, datafile: dict[str, Any], *, ssl_context: ssl.SSLContext | None = None):
        super().__init__()
        self.datafile = datafile
        self.failing = False
        self.gate = asyncio.Event()  # cleared: answers wait until it is set again
        self.gate.set()
        self._ssl = ssl_context
        app = web.Application()
        app.router.add_get("/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        self._port = 0

    async def _handle(self, request: web.Request) -> web.Response:
        await self.note(request)
        await self.gate.wait()
        if self.failing:
            return web.Response(status=503, text="down")
        return web.json_response(self.datafile)

    def set_revision(self, revision: str, **changes: Any) -> None:
        self.datafile = {**self.datafile, "revision": revision, **changes}

    async def __aenter__(self) -> DatafileHost:
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0, ssl_context=self._ssl)
        await site.start()
        self._port = int(self._runner.addresses[0][1])
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.gate.set()
        await self._runner.cleanup()

    @property
    def url(self) -> str:
        scheme = "https" if self._ssl is not None else "http"
        return f"{scheme}://127.0.0.1:{self._port}/datafile.json"

    @property
    def gets(self) -> int:
        return sum(1 for s in self.seen if s.method == "GET")


@dataclass
class ForwardProxy(_Recorder):
    """A plain-HTTP forward proxy: takes absolute-form requests and forwards them."""

    site: LoopbackSite | None = None
    _session: aiohttp.ClientSession | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        _Recorder.__init__(self)

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        target = str(request.url)  # absolute-form: the request line names the origin
        await self.note(request, target)
        assert self._session is not None
        headers = {
            k: v
            for k, v in request.headers.items()
            if k.lower() not in ("host", "proxy-connection", "proxy-authorization", "connection")
        }
        body = await request.read()
        async with self._session.request(
            request.method, target, headers=headers, data=body or None, allow_redirects=False
        ) as upstream:
            payload = await upstream.read()
            skip = ("content-encoding", "transfer-encoding", "content-length", "connection")
            return web.Response(
                status=upstream.status,
                body=payload,
                headers={k: v for k, v in upstream.headers.items() if k.lower() not in skip},
            )

    async def __aenter__(self) -> ForwardProxy:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self.site = LoopbackSite(app, "127.0.0.1", 0)
        self._session = aiohttp.ClientSession(trust_env=False, auto_decompress=False)
        await self.site.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.site is not None
        assert self._session is not None
        await self.site.aclose()
        await self._session.close()

    @property
    def url(self) -> str:
        assert self.site is not None
        return self.site.url

    def urls(self) -> list[str]:
        return [s.url for s in self.seen]


class ConnectProxy:
    """An HTTPS proxy: answers ``CONNECT host:port`` and pipes bytes both ways, so the
    TLS session is end to end (the proxy sees only the target it was asked for)."""

    def __init__(self) -> None:
        self.targets: list[str] = []
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        try:
            request = await reader.readuntil(b"\r\n\r\n")
            method, target, _ = request.split(b"\r\n", 1)[0].decode().split(" ", 2)
            if method != "CONNECT":
                writer.write(b"HTTP/1.1 405 Method Not Allowed\r\ncontent-length: 0\r\n\r\n")
                return
            self.targets.append(target)
            host, _, port = target.rpartition(":")
            up_reader, up_writer = await asyncio.open_connection(host, int(port))
            self._writers.add(up_writer)
            writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
            await writer.drain()
            await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))
        except (OSError, asyncio.IncompleteReadError, ValueError):
            pass
        finally:
            writer.close()

    async def __aenter__(self) -> ConnectProxy:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        for writer in self._writers:
            writer.close()
        await self._server.wait_closed()

    @property
    def url(self) -> str:
        assert self._server is not None
        port = self._server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}"


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while chunk := await reader.read(65536):
            writer.write(chunk)
            await writer.drain()
    except OSError:
        pass
    finally:
        writer.close()
