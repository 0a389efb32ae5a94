"""aiohttp.web integration: one call starts the client with the app and flushes it on cleanup.

    from asyncexp.integrations.aiohttp import CLIENT_KEY, get_client, setup_client

    app = web.Application()
    setup_client(app, make_client)          # a Client, or a (coroutine) factory

    async def checkout(request: web.Request) -> web.Response:
        client = get_client(request)        # or request.app[CLIENT_KEY]
        user = client.create_user_context(request.headers["X-User-Id"])
        decision = user.decide("checkout")  # a plain call, never awaits

The client lives in an ``app.cleanup_ctx`` entry: on startup it is started
(collector running, first datafile waited for) and stored under a typed
``web.AppKey``; on cleanup it is closed, which stops polling and flushes every
queue within ``close_timeout``. ``web.run_app`` and ``AppRunner.cleanup()`` run
the cleanup after in-flight handlers finished (within aiohttp's
``shutdown_timeout``), so what they tracked is shipped.

Cleanup contexts exit in reverse order: call ``setup_client`` before adding
contexts that use the client, so they still have it while they shut down.
aiohttp is a dependency of asyncexp itself, so this module needs no extra.

Push updates: ``setup_webhook(app, "/webhooks/optimizely", secret=...)`` (after
``setup_client``) answers Optimizely's datafile webhook: verified, then a refresh in
the background (see :mod:`asyncexp.integrations.webhook`).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

from aiohttp import web

from asyncexp.client import Client
from asyncexp.errors import ArgumentTypeError, ClientStateError
from asyncexp.integrations.asgi import ClientSource, managed_client
from asyncexp.integrations.webhook import (
    DEFAULT_MAX_BODY_BYTES,
    SIGNATURE_HEADER,
    WebhookReceiver,
)

__all__ = ["CLIENT_KEY", "ClientSource", "get_client", "setup_client", "setup_webhook"]

logger = logging.getLogger("asyncexp.integrations.aiohttp")

CLIENT_KEY: web.AppKey[Client] = web.AppKey("asyncexp_client", Client)
"""The default key: ``request.app[CLIENT_KEY]`` is typed as ``Client``."""

_REGISTERED: web.AppKey[set[str]] = web.AppKey("asyncexp_registered_keys", set)
"""The names of the keys ``setup_client`` registered on an app (set before startup)."""


def setup_client(
    app: web.Application,
    client_or_factory: ClientSource,
    *,
    key: web.AppKey[Client] = CLIENT_KEY,
    close_timeout: float | None = None,
) -> None:
    """Register the client on ``app``: started on startup, closed and flushed on cleanup.

    ``client_or_factory`` is a ``Client`` or a callable returning one (or a
    coroutine of one), called on startup inside the running loop; a factory
    gives a fresh client each time the app is started. ``close_timeout`` bounds
    the flush (``None``: the collector's own ``close_timeout``). Use another
    ``key`` to run several clients in one app.
    """
    if not isinstance(app, web.Application):
        raise ArgumentTypeError(f"app must be an aiohttp web.Application, not {type(app).__name__}")
    if not isinstance(client_or_factory, Client) and not callable(client_or_factory):
        raise ArgumentTypeError(
            "client_or_factory must be a Client or a factory returning one, "
            f"not {type(client_or_factory).__name__}"
        )
    if not isinstance(key, web.AppKey):
        raise ArgumentTypeError(f"key must be a web.AppKey, not {type(key).__name__}")
    if _REGISTERED not in app:
        app[_REGISTERED] = set()
    app[_REGISTERED].add(repr(key))

    async def asyncexp_client_ctx(app: web.Application) -> AsyncIterator[None]:
        async with managed_client(client_or_factory, close_timeout=close_timeout) as client:
            # Startup signals run before the app is frozen, so storing here is allowed.
            app[key] = client
            logger.debug("asyncexp client registered on the app under %r", key)
            yield

    app.cleanup_ctx.append(asyncexp_client_ctx)


def get_client(request: web.Request, key: web.AppKey[Client] = CLIENT_KEY) -> Client:
    """The client registered by :func:`setup_client`, from a handler or middleware.

    Looks through sub-applications up to the root (``request.config_dict``).
    Raises ``ClientStateError`` when no client is registered under ``key``, or
    before the app was started.
    """
    client = request.config_dict.get(key)
    if client is None and repr(key) in request.config_dict.get(_REGISTERED, set()):
        raise ClientStateError(
            f"the asyncexp client under {key!r} is not running: setup_client registered it, "
            "but it starts with the app (its cleanup context, at startup) and is closed at "
            "cleanup; this request came before the app started or after it stopped"
        )
    if client is None:
        raise ClientStateError(
            f"no asyncexp client under {key!r}: call setup_client(app, ...) and serve "
            "the app with web.run_app, an AppRunner or a TestServer"
        )
    return client


def setup_webhook(
    app: web.Application,
    path: str,
    *,
    secret: str | bytes,
    key: web.AppKey[Client] = CLIENT_KEY,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
) -> WebhookReceiver:
    """Answer Optimizely's datafile webhook with a POST route at ``path``.

    A request signed with ``secret`` is answered 202 and the client under ``key``
    refreshes in a task the returned receiver owns; unsigned 401, wrongly signed
    403, too large 413. Call after :func:`setup_client`: its cleanup cancels the
    pending refreshes before the client closes.
    """
    if not isinstance(app, web.Application):
        raise ArgumentTypeError(f"app must be an aiohttp web.Application, not {type(app).__name__}")
    receiver = WebhookReceiver(secret, max_body_bytes=max_body_bytes)

    async def asyncexp_webhook(request: web.Request) -> web.Response:
        if receiver.too_large(request.content_length):
            return web.Response(status=413, text="body too large")
        body = await request.content.read(receiver.max_body_bytes + 1)
        if len(body) > receiver.max_body_bytes:
            receiver.too_large(len(body))
            return web.Response(status=413, text="body too large")
        status = receiver.verify(body, request.headers.get(SIGNATURE_HEADER))
        if status != 202:
            text = "missing signature" if status == 401 else "invalid signature"
            return web.Response(status=status, text=text)
        try:
            client = get_client(request, key)
        except ClientStateError:
            logger.warning("webhook: no asyncexp client under %r", key)
            return web.Response(status=503, text="no client")
        receiver.schedule(client)
        return web.Response(status=202, text="refresh scheduled")

    async def asyncexp_webhook_ctx(app: web.Application) -> AsyncIterator[None]:
        yield
        await receiver.aclose()

    app.router.add_post(path, asyncexp_webhook)
    app.cleanup_ctx.append(asyncexp_webhook_ctx)
    return receiver
