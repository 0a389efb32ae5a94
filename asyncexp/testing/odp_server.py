"""A local ODP server (aiohttp) for examples and users' own tests.

It speaks the two endpoints the client uses, under any path prefix, so that
``host`` in the datafile's ``odp`` integration can simply be :attr:`OdpServer.url`:

* ``POST …/v3/graphql``: the segments query. The answer lists every audience
  asked for, ``"qualified"`` when it is in the user's set
  (:attr:`OdpServer.qualified`, else :attr:`OdpServer.default_qualified`) and
  ``"not_qualified"`` otherwise. A user in :attr:`OdpServer.invalid_identifiers`
  gets the GraphQL error ``INVALID_IDENTIFIER_EXCEPTION``, as ODP answers for an
  unknown customer.
* ``POST …/v3/events``: a JSON array of ODP events, answered ``202`` like ODP.

With ``api_key`` set, a request whose ``x-api-key`` header differs gets ``401``
(and is still recorded). A body that is not the JSON the endpoint expects gets
``400``. Every request is kept in :attr:`OdpServer.graphql_requests` or
:attr:`OdpServer.event_requests`; accepted events are also flattened into
:attr:`OdpServer.events`. Await what arrives with :meth:`OdpServer.wait_until`
(no sleeping).

It binds to 127.0.0.1 and an ephemeral port unless told otherwise::

    async with OdpServer(api_key="pk") as odp:
        odp.qualified["alice"] = {"vip"}
        datafile["integrations"] = [{"key": "odp", "host": odp.url, "publicKey": "pk"}]
        ...
        await odp.wait_until(lambda s: len(s.events) >= 1)
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiohttp import web

from asyncexp.testing.loopback import LoopbackSite

__all__ = ["INVALID_IDENTIFIER_ERROR", "OdpRequest", "OdpServer"]

INVALID_IDENTIFIER_ERROR = "INVALID_IDENTIFIER_EXCEPTION"
"""The GraphQL error code ODP returns for an unknown user (``extensions.code``)."""


@dataclass(frozen=True, slots=True)
class OdpRequest:
    """One request as received; ``payload`` is the decoded JSON body (None if invalid)."""

    path: str
    headers: Mapping[str, str]
    raw: bytes
    payload: Any
    status: int
    """The status the server answered with."""

    @property
    def user_id(self) -> str | None:
        """The ``userId`` variable of a GraphQL request (None for anything else)."""
        variables = self.payload.get("variables") if isinstance(self.payload, dict) else None
        value = variables.get("userId") if isinstance(variables, dict) else None
        return value if isinstance(value, str) else None

    @property
    def audiences(self) -> list[str]:
        """The ``audiences`` variable of a GraphQL request: the segments asked for."""
        variables = self.payload.get("variables") if isinstance(self.payload, dict) else None
        value = variables.get("audiences") if isinstance(variables, dict) else None
        return [a for a in value if isinstance(a, str)] if isinstance(value, list) else []


def _decode(raw: bytes) -> Any:
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None


def _graphql_query_ok(payload: Any) -> bool:
    if not isinstance(payload, dict) or not isinstance(payload.get("query"), str):
        return False
    variables = payload.get("variables")
    return (
        isinstance(variables, dict)
        and isinstance(variables.get("userId"), str)
        and isinstance(variables.get("audiences"), list)
    )


@dataclass
class OdpServer:
    """A local stand-in for ODP's GraphQL and events endpoints; see the module docstring."""

    api_key: str | None = None
    """When set, requests must carry ``x-api-key: <api_key>`` or get 401."""
    host: str = "127.0.0.1"
    port: int = 0
    qualified: dict[str, set[str]] = field(default_factory=dict)
    """Segments each user qualifies for, by user id."""
    default_qualified: set[str] = field(default_factory=set)
    """Segments of a user not listed in :attr:`qualified`."""
    invalid_identifiers: set[str] = field(default_factory=set)
    """User ids answered with the ``INVALID_IDENTIFIER_EXCEPTION`` GraphQL error."""
    graphql_requests: list[OdpRequest] = field(default_factory=list)
    event_requests: list[OdpRequest] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)
    """Every event of every accepted events request, in arrival order."""

    def __post_init__(self) -> None:
        self.app = web.Application()
        # Any prefix: the client posts to ``{host}/v3/...`` and the host may carry a path.
        self.app.router.add_post("/{prefix:.*}v3/graphql", self._on_graphql)
        self.app.router.add_post("/{prefix:.*}v3/events", self._on_events)
        self._site = LoopbackSite(self.app, self.host, self.port)
        self._changed = asyncio.Event()

    # -- lifecycle ------------------------------------------------------------------------
    async def start(self) -> OdpServer:
        await self._site.start()
        return self

    async def aclose(self) -> None:
        await self._site.aclose()

    async def __aenter__(self) -> OdpServer:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    @property
    def url(self) -> str:
        """The base URL to put in the datafile's ``odp`` integration as ``host``."""
        return self._site.url

    async def wait_until(
        self, predicate: Callable[[OdpServer], bool], timeout: float | None = 10.0
    ) -> None:
        """Return once ``predicate(self)`` is true; it is checked after every request.

        ``timeout`` (seconds, None for none) turns a hang into ``TimeoutError``.
        """
        async with asyncio.timeout(timeout):
            while not predicate(self):
                self._changed.clear()
                await self._changed.wait()

    # -- handlers -------------------------------------------------------------------------
    def _authorised(self, request: web.Request) -> bool:
        return self.api_key is None or request.headers.get("x-api-key") == self.api_key

    def _record(
        self, into: list[OdpRequest], request: web.Request, raw: bytes, payload: Any, status: int
    ) -> None:
        into.append(OdpRequest(request.path, dict(request.headers), raw, payload, status))
        self._changed.set()

    async def _on_graphql(self, request: web.Request) -> web.Response:
        raw = await request.read()
        payload = _decode(raw)
        if not self._authorised(request):
            self._record(self.graphql_requests, request, raw, payload, 401)
            return web.json_response({"message": "invalid api key"}, status=401)
        if not _graphql_query_ok(payload):
            self._record(self.graphql_requests, request, raw, payload, 400)
            return web.json_response({"message": "bad request"}, status=400)
        variables = payload["variables"]
        user_id: str = variables["userId"]
        self._record(self.graphql_requests, request, raw, payload, 200)
        if user_id in self.invalid_identifiers:
            error = {
                "message": f"Exception while fetching data (/customer) : {user_id}",
                "extensions": {
                    "code": INVALID_IDENTIFIER_ERROR,
                    "classification": "DataFetchingException",
                },
            }
            return web.json_response({"errors": [error], "data": {"customer": None}})
        mine = self.qualified.get(user_id, self.default_qualified)
        edges = [
            {"node": {"name": name, "state": "qualified" if name in mine else "not_qualified"}}
            for name in variables["audiences"]
            if isinstance(name, str)
        ]
        return web.json_response({"data": {"customer": {"audiences": {"edges": edges}}}})

    async def _on_events(self, request: web.Request) -> web.Response:
        raw = await request.read()
        payload = _decode(raw)
        if not self._authorised(request):
            self._record(self.event_requests, request, raw, payload, 401)
            return web.json_response({"message": "invalid api key"}, status=401)
        if not isinstance(payload, list) or not all(isinstance(e, dict) for e in payload):
            self._record(self.event_requests, request, raw, payload, 400)
            return web.json_response({"message": "bad request"}, status=400)
        # Extend before recording, so a waiter woken by the request sees its events.
        self.events.extend(payload)
        self._record(self.event_requests, request, raw, payload, 202)
        return web.json_response({"title": "Accepted", "status": 202}, status=202)
