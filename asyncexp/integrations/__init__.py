"""Framework integrations: start the client with the application, flush it on shutdown.

Each submodule is imported on its own, because each may need an optional
dependency; this package imports none of them.

* :mod:`asyncexp.integrations.aiohttp`: ``setup_client(app, client)`` for
  ``aiohttp.web`` (a ``cleanup_ctx``) and ``get_client(request)``.
* :mod:`asyncexp.integrations.asgi`: ``asyncexp_lifespan(client)`` for any
  ASGI lifespan (Starlette, FastAPI), ``managed_client`` and
  ``get_client(request)``; needs no framework.
* :mod:`asyncexp.integrations.quart`: ``setup_client(app, client)`` (Quart's
  serving hooks) and ``get_client()``; imports Quart only to find ``current_app``.
* :mod:`asyncexp.integrations.fastapi`: dependencies (``get_client``,
  ``UserContextDependency``, ``CurrentUser``); needs ``asyncexp[fastapi]``.
* :mod:`asyncexp.integrations.openfeature`: an OpenFeature provider; needs
  ``asyncexp[openfeature]``.

May import: asyncexp, asyncexp.aio, asyncexp.analytics, asyncexp.client, asyncexp.core,
  asyncexp.errors, asyncexp.flags, asyncexp.integrations
Never imported by: any other part of asyncexp
"""

__all__: list[str] = []
