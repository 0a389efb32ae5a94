"""Test helpers for the framework integrations: clients, and an ASGI lifespan driver.

``run_lifespan(app)`` plays the server's part of the ASGI lifespan protocol
(startup, then shutdown on exit) with a ``state`` dict, as uvicorn does;
``with_state(app, state)`` gives each request a shallow copy of that state, so
``httpx.ASGITransport`` requests see ``request.state`` as under a real server.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from asyncexp import BatchCollector, Client
from asyncexp.examples_data import example_datafile
from asyncexp.testing import CapturingCollector, IngestionServer

APP_KEY = "integrations"
ASGIApp = Callable[..., Any]


def client_factory(server: IngestionServer) -> Callable[[], Client]:
    """Clients whose collector ships only when closed (a huge interval and batch)."""

    def make() -> Client:
        collector = BatchCollector(
            server.url,
            optimizely_events_url=server.events_url,
            max_interval=3600.0,
            batch_size=100_000,
            max_queue_size=100_000,
        )
        return Client(datafile=example_datafile(), collector=collector, app_key=APP_KEY)

    return make


class RecordingCollector(CapturingCollector):
    """A ``CapturingCollector`` that also records the timeout of each close."""

    def __init__(self) -> None:
        super().__init__()
        self.close_timeouts: list[float | None] = []

    async def aclose(self, timeout: float | None = None) -> None:
        self.close_timeouts.append(timeout)
        await super().aclose(timeout)


def capturing_client(collector: CapturingCollector) -> Client:
    """A client over an in-memory collector, with the example datafile.

    The datafile matters: without any config source ``Client.start()`` waits its
    whole ``ready_timeout`` (10 s) for a config that cannot come.
    """
    return Client(datafile=example_datafile(), collector=collector, app_key=APP_KEY)


def event_names(server: IngestionServer) -> list[str]:
    """The ``xwhat`` of every analytics record the server accepted, in arrival order."""
    return [record["xwhat"] for record in server.records]


async def _next_message(outbox: asyncio.Queue[dict[str, Any]], task: asyncio.Task[None]) -> Any:
    # The app may fail without answering: wait for whichever comes first.
    getter = asyncio.ensure_future(outbox.get())
    await asyncio.wait([getter, task], return_when=asyncio.FIRST_COMPLETED)
    if getter.done():
        return getter.result()
    getter.cancel()
    task.result()  # raises what the app raised
    raise RuntimeError("the app ended its lifespan without answering")


@asynccontextmanager
async def run_lifespan(app: ASGIApp) -> AsyncIterator[dict[str, Any]]:
    """Start the app's lifespan, yield its state, shut it down on exit.

    A failed startup or shutdown raises the app's exception.
    """
    state: dict[str, Any] = {}
    inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    outbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    scope = {"type": "lifespan", "asgi": {"version": "3.0", "spec_version": "2.0"}, "state": state}
    task = asyncio.ensure_future(app(scope, inbox.get, outbox.put))
    try:
        await inbox.put({"type": "lifespan.startup"})
        started = await _next_message(outbox, task)
        if started["type"] != "lifespan.startup.complete":
            await task  # Starlette re-raises the startup error after reporting it
            raise RuntimeError(started.get("message", started["type"]))
        try:
            yield state
        finally:  # shut down even when the test body failed: the client must close
            await inbox.put({"type": "lifespan.shutdown"})
            stopped = await _next_message(outbox, task)
            if stopped["type"] != "lifespan.shutdown.complete":
                await task
                raise RuntimeError(stopped.get("message", stopped["type"]))
            await task
    finally:
        if not task.done():
            task.cancel()
            await asyncio.wait([task])


def with_state(app: ASGIApp, state: dict[str, Any]) -> ASGIApp:
    """The app, with each request's scope given a copy of the lifespan state."""

    async def wrapped(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] in ("http", "websocket"):
            scope = {**scope, "state": dict(state)}
        await app(scope, receive, send)

    return wrapped
