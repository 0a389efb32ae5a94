"""A local CMAB prediction service (aiohttp) for examples and users' own tests.

It answers ``POST …/predict/{rule_id}`` as Optimizely's prediction service does:
``{"predictions": [{"variation_id": "<id>"}]}``. Which variation: the rule's entry in
:attr:`PredictionServer.variations` (a variation id, or a function of the
:class:`PredictionRequest` returning one); a rule not listed is answered ``404``.
:attr:`PredictionServer.fail_next` answers that many of the next requests with
``500`` (to exercise retries); a body that is not a prediction request gets ``400``.
Every request is kept in :attr:`PredictionServer.requests`; await what arrives with
:meth:`PredictionServer.wait_until` (no sleeping). :attr:`PredictionServer.hold`, when
set to an unset ``asyncio.Event``, keeps every answer back until it is set (to make
requests overlap).

Point a client at it with its endpoint template::

    async with PredictionServer(variations={"rule_id": "var_id"}) as cmab:
        client = Client(datafile=..., cmab_prediction_endpoint=cmab.endpoint)
        decision = await client.create_user_context("u1").decide_async("flag")

(optimizely-sdk 5.7: ``OptimizelySdkSettings(cmab_prediction_endpoint=cmab.endpoint)``.)
It binds to 127.0.0.1 and an ephemeral port unless told otherwise.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiohttp import web

from asyncexp.testing.loopback import LoopbackSite

__all__ = ["PredictionRequest", "PredictionServer"]


@dataclass(frozen=True, slots=True)
class PredictionRequest:
    """One request as received; ``payload`` is the decoded JSON body (None if invalid)."""

    rule_id: str
    headers: Mapping[str, str]
    payload: Any
    status: int
    """The status the server answered with."""

    @property
    def instance(self) -> dict[str, Any]:
        """The first (only) instance of the body, or ``{}``."""
        instances = self.payload.get("instances") if isinstance(self.payload, dict) else None
        first = instances[0] if isinstance(instances, list) and instances else None
        return first if isinstance(first, dict) else {}

    @property
    def user_id(self) -> str | None:
        value = self.instance.get("visitorId")
        return value if isinstance(value, str) else None

    @property
    def attributes(self) -> dict[str, Any]:
        """The instance's attributes as ``{attribute id: value}``."""
        items = self.instance.get("attributes")
        if not isinstance(items, list):
            return {}
        return {a["id"]: a.get("value") for a in items if isinstance(a, dict) and "id" in a}


Answer = str | Callable[[PredictionRequest], str]


@dataclass
class PredictionServer:
    """A local stand-in for the CMAB prediction service; see the module docstring."""

    variations: dict[str, Answer] = field(default_factory=dict)
    """The variation id (or a function of the request giving one) for each rule id."""
    fail_next: int = 0
    """How many of the next requests get ``500``."""
    host: str = "127.0.0.1"
    port: int = 0
    requests: list[PredictionRequest] = field(default_factory=list)
    hold: asyncio.Event | None = None

    def __post_init__(self) -> None:
        self.app = web.Application()
        self.app.router.add_post("/{prefix:.*}predict/{rule_id}", self._on_predict)
        self._site = LoopbackSite(self.app, self.host, self.port)
        self._changed = asyncio.Event()

    # -- lifecycle ------------------------------------------------------------------------
    async def start(self) -> PredictionServer:
        await self._site.start()
        return self

    async def aclose(self) -> None:
        await self._site.aclose()

    async def __aenter__(self) -> PredictionServer:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    @property
    def url(self) -> str:
        return self._site.url

    @property
    def endpoint(self) -> str:
        """The endpoint template (``{}`` for the rule id) for clients."""
        return f"{self._site.url}/predict/{{}}"

    async def wait_until(
        self, predicate: Callable[[PredictionServer], bool], timeout: float | None = 10.0
    ) -> None:
        """Return once ``predicate(self)`` is true; it is checked after every request."""
        async with asyncio.timeout(timeout):
            while not predicate(self):
                self._changed.clear()
                await self._changed.wait()

    # -- handler --------------------------------------------------------------------------
    async def _on_predict(self, request: web.Request) -> web.Response:
        raw = await request.read()
        try:
            payload = orjson.loads(raw)
        except orjson.JSONDecodeError:
            payload = None
        rule_id = request.match_info["rule_id"]
        record = PredictionRequest(rule_id, dict(request.headers), payload, 200)
        if self.hold is not None:
            await self.hold.wait()
        status, body = self._answer(record)
        self.requests.append(PredictionRequest(rule_id, record.headers, record.payload, status))
        self._changed.set()
        return web.json_response(body, status=status)

    def _answer(self, record: PredictionRequest) -> tuple[int, dict[str, Any]]:
        if self.fail_next > 0:
            self.fail_next -= 1
            return 500, {"error": "unavailable"}
        if not record.instance or record.user_id is None:
            return 400, {"error": "bad request"}
        answer = self.variations.get(record.rule_id)
        if answer is None:
            return 404, {"error": f"unknown rule {record.rule_id}"}
        variation_id = answer if isinstance(answer, str) else answer(record)
        return 200, {"predictions": [{"variation_id": variation_id}]}
