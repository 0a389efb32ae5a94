"""A local ODP server for tests: ``POST …/v3/graphql`` and ``POST …/v3/events`` on 127.0.0.1.

Any path prefix works (``{url}/a/v3/events``), so one server can stand for two hosts.
Replies are scripted per endpoint with :class:`Reply`; without a script, GraphQL
answers from :attr:`OdpServer.qualified` and events get 200. ``gate`` (set by
default) holds GraphQL answers while cleared; ``Reply(mode="hang")`` holds a
request until the server closes; ``mode="reset"`` drops the connection.
"""

from __future__ import annotations

import asyncio
import json
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, Literal

from aiohttp import web

from asyncexp.core.flags.datafile import ProjectConfig, parse_datafile
from tests.datafiles import base_datafile

__all__ = ["API_KEY", "OdpServer", "Received", "Reply", "make_config"]

API_KEY = "pk-secret-7f3a9c"


def make_config(
    host: str | None, *, key: str | None = API_KEY, segments: tuple[str, ...] = ("vip", "gold")
) -> ProjectConfig:
    config = parse_datafile(base_datafile())
    return replace(config, odp_host=host, odp_public_key=key, segments=segments)


@dataclass(frozen=True)
class Reply:
    status: int = 200
    body: bytes | None = None
    mode: Literal["ok", "hang", "reset"] = "ok"
    headers: dict[str, str] | None = None


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    raw: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.raw)


class OdpServer:
    def __init__(self) -> None:
        self.qualified: dict[str, set[str]] = {}
        self.default_qualified: set[str] = {"vip"}
        self.graphql: list[Received] = []
        self.events: list[Received] = []
        self.graphql_script: deque[Reply] = deque()
        self.events_script: deque[Reply] = deque()
        self.gate = asyncio.Event()
        self.gate.set()
        self._closing = asyncio.Event()
        self._changed = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self.url = ""

    async def __aenter__(self) -> OdpServer:
        app = web.Application()
        app.router.add_post("/{prefix:.*}v3/graphql", self._on_graphql)
        app.router.add_post("/{prefix:.*}v3/events", self._on_events)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.url = f"http://127.0.0.1:{self._runner.addresses[0][1]}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._closing.set()
        self.gate.set()
        assert self._runner is not None
        await self._runner.cleanup()

    @property
    def event_count(self) -> int:
        return sum(len(r.json) for r in self.events)

    async def wait_until(self, predicate: Callable[[OdpServer], bool]) -> None:
        """Return once ``predicate(self)`` holds; a 10 s guard turns a hang into a failure."""
        async with asyncio.timeout(10):
            while not predicate(self):
                self._changed.clear()
                await self._changed.wait()

    async def _record(self, request: web.Request, into: list[Received]) -> Received:
        received = Received(request.path, dict(request.headers), await request.read())
        into.append(received)
        self._changed.set()
        return received

    async def _scripted(self, request: web.Request, reply: Reply) -> web.StreamResponse | None:
        if reply.mode == "hang":
            await self._closing.wait()
        if reply.mode == "reset":
            assert request.transport is not None
            request.transport.close()
            return web.Response(status=200)
        if reply.body is not None or reply.status != 200:
            return web.Response(status=reply.status, body=reply.body or b"", headers=reply.headers)
        return None

    async def _on_graphql(self, request: web.Request) -> web.StreamResponse:
        received = await self._record(request, self.graphql)
        await self.gate.wait()
        if self.graphql_script:
            answer = await self._scripted(request, self.graphql_script.popleft())
            if answer is not None:
                return answer
        variables = received.json["variables"]
        mine = self.qualified.get(variables["userId"], self.default_qualified)
        edges = [
            {"node": {"name": name, "state": "qualified" if name in mine else "not_qualified"}}
            for name in variables["audiences"]
        ]
        return web.json_response({"data": {"customer": {"audiences": {"edges": edges}}}})

    async def _on_events(self, request: web.Request) -> web.StreamResponse:
        await self._record(request, self.events)
        if self.events_script:
            answer = await self._scripted(request, self.events_script.popleft())
            if answer is not None:
                return answer
        return web.json_response({"title": "Accepted", "status": 202}, status=202)
