"""Quart: the client starts with the app and is flushed on shutdown.

Quart has no ``lifespan=`` argument; ``setup_client`` registers the client's
start and close with the app's serving hooks::

    from quart import Quart
    from asyncexp.integrations.quart import get_client, setup_client

    app = Quart(__name__)
    setup_client(app, make_client)           # a Client, or a factory (may be async)

    @app.get("/checkout")
    async def checkout() -> dict[str, object]:
        client = get_client()                # the current app's client
        decision = client.create_user_context(request.headers["X-User-Id"]).decide("checkout")
        return {"variation": decision.variation_key}

At startup (a ``before_serving`` function) the client is started (collector
running, first datafile waited for) and put in ``app.extensions[key]``; at
shutdown (an ``after_serving`` function) it is removed and closed, flushing
every queue within ``close_timeout``. Quart runs the ``before_serving``
functions in registration order, then the ``while_serving`` generators; at
shutdown it finishes the generators, then runs the ``after_serving`` functions
in registration order. So call ``setup_client`` first: the app's own startup
code and ``while_serving`` generators can use the client, and it is closed
after the generators finished. (``before_serving``/``after_serving`` rather than
``while_serving``: Quart makes a ``while_serving`` generator once, when it is
registered, so an app using one cannot be served twice, as tests do.)

Nothing here imports Quart at module level: ``setup_client`` only needs the
app's documented ``before_serving``, ``after_serving`` and ``extensions``; ``get_client()`` with no
app imports ``quart.current_app`` (``pip install quart``).
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any, Protocol

from asyncexp.client import Client
from asyncexp.errors import ArgumentTypeError, ClientStateError, MissingExtraError
from asyncexp.integrations.asgi import DEFAULT_KEY, ClientSource, resolve_client

__all__ = ["QuartApp", "get_client", "setup_client"]

logger = logging.getLogger("asyncexp.integrations.quart")

_REGISTERED = "asyncexp.registered_keys"
"""``app.extensions`` entry: the keys ``setup_client`` registered (set before startup)."""


class QuartApp(Protocol):
    """What these helpers use of a ``quart.Quart`` application."""

    @property
    def extensions(self) -> MutableMapping[str, Any]: ...

    def before_serving(
        self, func: Callable[[], Awaitable[None]]
    ) -> Callable[[], Awaitable[None]]: ...

    def after_serving(
        self, func: Callable[[], Awaitable[None]]
    ) -> Callable[[], Awaitable[None]]: ...


def setup_client(
    app: QuartApp,
    source: ClientSource,
    *,
    key: str = DEFAULT_KEY,
    close_timeout: float | None = None,
) -> None:
    """Register the client on ``app``: started when the app starts serving, closed after.

    ``source`` is a ``Client`` or a factory returning one (called at each startup,
    inside the running loop; pass a factory when the app may be served more
    than once, as tests do). ``close_timeout`` bounds the flush at shutdown.
    """
    hooks = ("before_serving", "after_serving")
    if not all(callable(getattr(app, name, None)) for name in hooks) or not isinstance(
        getattr(app, "extensions", None), MutableMapping
    ):
        raise ArgumentTypeError(
            "setup_client needs a Quart app (before_serving, after_serving, extensions), "
            f"not {type(app).__name__}"
        )
    if not isinstance(source, Client) and not callable(source):
        raise ArgumentTypeError(
            f"expected a Client or a factory returning one, not {type(source).__name__}"
        )
    if not isinstance(key, str) or not key:
        raise ArgumentTypeError("key must be a non-empty str")
    registered = app.extensions.setdefault(_REGISTERED, set())
    if key in registered:
        raise ClientStateError(f"setup_client was already called for {key!r} on this app")
    registered.add(key)

    async def start_asyncexp_client() -> None:
        client = await resolve_client(source)
        try:
            await client.start()
        except BaseException:
            await client.aclose(close_timeout)  # nothing started may outlive the failure
            raise
        app.extensions[key] = client
        logger.info("asyncexp client started")

    async def close_asyncexp_client() -> None:
        client = app.extensions.pop(key, None)
        if isinstance(client, Client):
            logger.info("closing the asyncexp client: flushing queued events")
            await client.aclose(close_timeout)
            logger.info("asyncexp client closed")

    app.before_serving(start_asyncexp_client)
    app.after_serving(close_asyncexp_client)


def get_client(app: QuartApp | None = None, key: str = DEFAULT_KEY) -> Client:
    """The client of ``app``, or of Quart's ``current_app`` (in a request or app context).

    Raises ``ClientStateError``: outside an app context; before the app started
    serving (``setup_client`` was called, but startup has not run yet, or
    serving ended); or when ``setup_client`` was never called for ``key``.
    """
    if app is None:
        app = _current_app()
    extensions = getattr(app, "extensions", None)
    if not isinstance(extensions, MutableMapping):
        raise ArgumentTypeError(f"expected a Quart app, not {type(app).__name__}")
    client = extensions.get(key)
    if isinstance(client, Client):
        return client
    if key in extensions.get(_REGISTERED, ()):
        raise ClientStateError(
            f"the asyncexp client under {key!r} is not running: setup_client registered it, "
            "but the app is not serving (the client starts at Quart's startup, in "
            "before_serving, and is closed at shutdown); use it from requests, from "
            "startup code registered after setup_client, or while_serving generators"
        )
    raise ClientStateError(
        f"no asyncexp client under {key!r}: call setup_client(app, make_client) when "
        "building the app"
    )


def _current_app() -> QuartApp:
    try:
        quart = importlib.import_module("quart")
    except ImportError as exc:
        raise MissingExtraError(
            "get_client() without an app needs Quart: pip install quart"
        ) from exc
    try:
        # current_app is a proxy; the real app carries extensions and while_serving
        app: QuartApp = quart.current_app._get_current_object()
    except RuntimeError as exc:  # "Not within an app context"
        raise ClientStateError(
            "get_client() outside a Quart app or request context: pass the app"
        ) from exc
    return app
