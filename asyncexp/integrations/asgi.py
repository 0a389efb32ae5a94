"""ASGI lifespan integration: Starlette, FastAPI, Quart or any ASGI framework.

Needs no framework: nothing here imports Starlette.

    from asyncexp.integrations.asgi import asyncexp_lifespan, get_client

    app = Starlette(routes=routes, lifespan=asyncexp_lifespan(make_client))

    async def checkout(request: Request) -> Response:
        client = get_client(request)

On startup the client (or the one ``make_client()`` returns) is started — the
collector running and the first datafile waited for — *before* the
application's own lifespan (``lifespan=``) is entered, so that startup code can
already use it. On shutdown the application's lifespan exits first, then the
client is closed: polling stops and every queue is flushed within
``close_timeout``. ASGI servers run the lifespan shutdown only after the
in-flight requests finished (uvicorn does), so what they tracked is shipped.

The client is yielded in the lifespan state as ``{key: client}`` (each request
sees it in ``request.state``) and set on ``app.state`` when the application has
one. Yielding state needs a server that supports it (uvicorn, hypercorn,
granian); Starlette says so clearly otherwise.

Pass a factory rather than a client when the lifespan may run more than once
(for example a test entering ``TestClient(app)`` twice): a closed client cannot
be started again.

Push updates: mount ``asgi_webhook(secret=...)`` (from
:mod:`asyncexp.integrations.webhook`) at the webhook's path, e.g.
``Mount("/webhooks/optimizely", app=asgi_webhook(secret))``; it finds the lifespan's
client under ``key``.

Quart has no ``lifespan=`` argument, and its requests carry no app in their
scope: use :mod:`asyncexp.integrations.quart` (``setup_client(app, make_client)``
and ``get_client()``).
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any, Protocol, TypeAlias, cast

from asyncexp.client import Client
from asyncexp.errors import ArgumentTypeError, ClientStateError

__all__ = [
    "DEFAULT_KEY",
    "AppLifespan",
    "ClientFactory",
    "ClientSource",
    "asyncexp_lifespan",
    "get_client",
    "managed_client",
    "resolve_client",
]

logger = logging.getLogger("asyncexp.integrations.asgi")

DEFAULT_KEY = "asyncexp"
"""Where the client is put: the lifespan state key and the ``app.state`` attribute."""

ClientFactory: TypeAlias = Callable[[], Client | Awaitable[Client]]
"""Builds the client at startup, inside the running event loop; may be a coroutine."""
ClientSource: TypeAlias = Client | ClientFactory
_LifespanContext: TypeAlias = Callable[[Any], AbstractAsyncContextManager[Mapping[str, Any] | None]]
AppLifespan: TypeAlias = _LifespanContext | Callable[[Any], AsyncIterator[Mapping[str, Any] | None]]
"""An application's own lifespan: ``app -> async context manager`` (state or None), or
the bare ``async def lifespan(app): … yield …`` that FastAPI also accepts."""


class _Connection(Protocol):
    """A Starlette ``Request``/``WebSocket`` (anything with an ASGI ``scope``)."""

    @property
    def scope(self) -> Mapping[str, Any]: ...


def _check_source(source: object) -> None:
    # Fail when the application is built, not at its first startup.
    if not isinstance(source, Client) and not callable(source):
        raise ArgumentTypeError(
            f"expected a Client or a factory returning one, not {type(source).__name__}"
        )


async def resolve_client(source: ClientSource) -> Client:
    """The client itself, or what the factory returns (awaited if it is awaitable)."""
    _check_source(source)
    if isinstance(source, Client):
        return source
    result = source()
    client = await result if inspect.isawaitable(result) else result
    if not isinstance(client, Client):
        raise ArgumentTypeError(
            f"the client factory returned {type(client).__name__}, not a Client"
        )
    return client


@asynccontextmanager
async def managed_client(
    source: ClientSource, *, close_timeout: float | None = None
) -> AsyncIterator[Client]:
    """Start the client on entry; on exit close it, flushing every queue.

    ``close_timeout`` bounds the flush (``None``: the collector's own
    ``close_timeout``, 10 s by default). The client is closed even when starting
    it or the body fails.
    """
    client = await resolve_client(source)
    try:
        await client.start()
        logger.info("asyncexp client started")
        yield client
    finally:
        logger.info("closing the asyncexp client: flushing queued events")
        await client.aclose(close_timeout)
        logger.info("asyncexp client closed")


def asyncexp_lifespan(
    source: ClientSource,
    *,
    lifespan: AppLifespan | None = None,
    key: str = DEFAULT_KEY,
    close_timeout: float | None = None,
) -> Callable[[Any], AbstractAsyncContextManager[dict[str, Any]]]:
    """A lifespan for ``Starlette(lifespan=…)`` / ``FastAPI(lifespan=…)``.

    ``lifespan`` is the application's own lifespan (what ``@asynccontextmanager``
    makes of ``async def lifespan(app): … yield …``); it runs inside the
    client's, and the state it yields is kept, with the client added under
    ``key``.
    """
    _check_source(source)
    if not isinstance(key, str) or not key:
        raise ArgumentTypeError("key must be a non-empty str")
    if lifespan is not None and not callable(lifespan):
        raise ArgumentTypeError(f"lifespan must be callable, not {type(lifespan).__name__}")
    inner: _LifespanContext | None
    if inspect.isasyncgenfunction(lifespan):
        inner = asynccontextmanager(lifespan)
    else:
        inner = cast("_LifespanContext | None", lifespan)

    @asynccontextmanager
    async def asyncexp_lifespan_context(app: Any) -> AsyncIterator[dict[str, Any]]:
        async with managed_client(source, close_timeout=close_timeout) as client:
            app_state = getattr(app, "state", None)
            if app_state is not None:
                setattr(app_state, key, client)
            if inner is None:
                yield {key: client}
                return
            async with inner(app) as inner_state:
                yield {**(inner_state or {}), key: client}

    return asyncexp_lifespan_context


def get_client(connection: _Connection | Mapping[str, Any], key: str = DEFAULT_KEY) -> Client:
    """The client of the running application, from a request, a websocket or a scope.

    Looks in the request's lifespan state first (it reaches mounted sub-apps),
    then on ``app.state``. Raises ``ClientStateError`` when neither has one.
    """
    # A Starlette Request is a Mapping over its scope too; take the scope itself.
    scope = cast("Mapping[str, Any]", getattr(connection, "scope", connection))
    state = scope.get("state")
    client = state.get(key) if isinstance(state, Mapping) else None
    if client is None:
        client = getattr(getattr(scope.get("app"), "state", None), key, None)
    if not isinstance(client, Client):
        raise ClientStateError(
            f"no asyncexp client under {key!r}: build the application with "
            "lifespan=asyncexp_lifespan(...) and serve it with lifespan enabled (under "
            "Quart, use asyncexp.integrations.quart's setup_client and get_client)"
        )
    return client
