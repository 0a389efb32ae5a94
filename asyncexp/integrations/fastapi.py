"""FastAPI dependencies: the client, and a ``UserContext`` built from the request.

Needs ``pip install 'asyncexp[fastapi]'``; without FastAPI, importing this
module raises ``MissingExtraError``. Start the client with the ASGI lifespan
(re-exported here)::

    from asyncexp.integrations.fastapi import AsyncexpClient, CurrentUser, asyncexp_lifespan

    app = FastAPI(lifespan=asyncexp_lifespan(make_client))

    @app.get("/checkout")
    async def checkout(user: CurrentUser, client: AsyncexpClient) -> dict[str, object]:
        decision = user.decide("checkout")          # a plain call, never awaits
        client.track(user.user_id, "CheckoutViewed")
        return {"variation": decision.variation_key}

``CurrentUser`` reads the user id from the ``X-User-Id`` header; a request
without one is answered with HTTP 400. For a cookie, a callable or attributes,
make your own::

    current_user = UserContextDependency(
        header=None, cookie="uid", attributes=lambda request: {"country": ...}
    )

    @app.get("/")
    async def home(user: Annotated[UserContext, Depends(current_user)]) -> ...
"""

# No ``from __future__ import annotations``: FastAPI reads the signature of
# ``UserContextDependency.__call__``, and an instance has no ``__globals__`` to
# resolve string annotations with.
import inspect
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Annotated, Any, TypeAlias

from asyncexp.errors import ArgumentTypeError, MissingExtraError

try:
    from fastapi import Cookie, Depends, Header, HTTPException, Request
except ImportError as exc:
    raise MissingExtraError(
        "asyncexp.integrations.fastapi needs FastAPI: pip install 'asyncexp[fastapi]'"
    ) from exc

from asyncexp.client import Client
from asyncexp.flags.user_context import UserContext
from asyncexp.integrations import asgi
from asyncexp.integrations.asgi import DEFAULT_KEY, asyncexp_lifespan

__all__ = [
    "AsyncexpClient",
    "AttributesFn",
    "CurrentUser",
    "IdentifyFn",
    "UserContextDependency",
    "asyncexp_lifespan",
    "current_user",
    "get_client",
]

logger = logging.getLogger("asyncexp.integrations.fastapi")

_HEADER_PARAM = "asyncexp_user_id_header"
_COOKIE_PARAM = "asyncexp_user_id_cookie"

_Identity: TypeAlias = tuple[str | None, Mapping[str, Any] | None]
IdentifyFn: TypeAlias = Callable[[Request], _Identity | Awaitable[_Identity]]
"""``request -> (user_id, attributes)``, plain or async; a ``None`` id means "missing"."""
AttributesFn: TypeAlias = Callable[[Request], Mapping[str, Any] | Awaitable[Mapping[str, Any]]]
"""``request -> attributes``, plain or async."""


def get_client(request: Request) -> Client:
    """Dependency: the client started by ``asyncexp_lifespan`` (default key).

    A missing client is a server misconfiguration: ``ClientStateError``, HTTP 500.
    For another key use ``asyncexp.integrations.asgi.get_client(request, key)``.
    """
    return asgi.get_client(request)


async def _maybe_await(value: Any) -> Any:
    return await value if inspect.isawaitable(value) else value


class UserContextDependency:
    """Dependency that builds a ``UserContext`` from the request.

    The user id comes from ``identify(request) -> (user_id, attributes)`` when
    given, otherwise from the ``header`` (default ``X-User-Id``) and then the
    ``cookie``; set either to ``None`` to skip it. ``attributes(request)`` adds
    attributes (over those ``identify`` returned). Both callables may be async.
    No user id, or an empty one, is answered with HTTP 400 and a message naming
    where it was looked for. ``key`` selects the client (see ``asyncexp_lifespan``).
    """

    def __init__(
        self,
        *,
        header: str | None = "X-User-Id",
        cookie: str | None = None,
        identify: IdentifyFn | None = None,
        attributes: AttributesFn | None = None,
        key: str = DEFAULT_KEY,
    ) -> None:
        if identify is None and header is None and cookie is None:
            raise ArgumentTypeError("give a header, a cookie or an identify callable")
        for name, fn in (("identify", identify), ("attributes", attributes)):
            if fn is not None and not callable(fn):
                raise ArgumentTypeError(f"{name} must be callable, not {type(fn).__name__}")
        self.header = header
        self.cookie = cookie
        self.identify = identify
        self.attributes = attributes
        self.key = key
        # FastAPI reads a dependency's parameters from its signature: declaring the
        # header and cookie (optional, so a missing one is our 400, not a 422) puts
        # them in the OpenAPI schema of every operation that depends on this.
        self.__signature__ = self._signature()

    def _signature(self) -> inspect.Signature:
        params = [
            inspect.Parameter(
                "request", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=Request
            )
        ]
        if self.identify is None and self.header is not None:
            default = Header(
                default=None, alias=self.header, description="The user id for flag decisions"
            )
            params.append(
                inspect.Parameter(
                    _HEADER_PARAM,
                    inspect.Parameter.KEYWORD_ONLY,
                    default=default,
                    annotation=str | None,
                )
            )
        if self.identify is None and self.cookie is not None:
            description = "The user id for flag decisions" + (
                f" (when the {self.header} header is absent)" if self.header else ""
            )
            params.append(
                inspect.Parameter(
                    _COOKIE_PARAM,
                    inspect.Parameter.KEYWORD_ONLY,
                    default=Cookie(default=None, alias=self.cookie, description=description),
                    annotation=str | None,
                )
            )
        return inspect.Signature(params, return_annotation=UserContext)

    def __repr__(self) -> str:
        return (
            f"UserContextDependency(header={self.header!r}, cookie={self.cookie!r}, "
            f"identify={self.identify!r}, attributes={self.attributes!r}, key={self.key!r})"
        )

    def _sources(self) -> str:
        if self.identify is not None:
            return "the identify callable returned none"
        where = [f"the {self.header!r} header"] if self.header is not None else []
        if self.cookie is not None:
            where.append(f"the {self.cookie!r} cookie")
        return "send " + " or ".join(where)

    async def __call__(self, request: Request, **declared: str | None) -> UserContext:
        client = asgi.get_client(request, self.key)
        attributes: dict[str, Any] = {}
        user_id: str | None = None
        if self.identify is not None:
            user_id, found = await _maybe_await(self.identify(request))
            attributes.update(found or {})
        else:
            # FastAPI passes the declared header and cookie; called directly, read them
            if self.header is not None:
                user_id = declared.get(_HEADER_PARAM) or request.headers.get(self.header)
            if not user_id and self.cookie is not None:
                user_id = declared.get(_COOKIE_PARAM) or request.cookies.get(self.cookie)
        if user_id is None or (isinstance(user_id, str) and not user_id.strip()):
            # The caller's fault, so 400 rather than a decision for an anonymous id.
            logger.debug("%s %s: no user id (%r)", request.method, request.url.path, self)
            raise HTTPException(status_code=400, detail=f"missing user id: {self._sources()}")
        if self.attributes is not None:
            attributes.update(await _maybe_await(self.attributes(request)))
        return client.create_user_context(user_id, attributes)


current_user = UserContextDependency()
"""The default dependency: user id from the ``X-User-Id`` header, no attributes."""

CurrentUser: TypeAlias = Annotated[UserContext, Depends(current_user)]
"""``user: CurrentUser`` in a path operation: the ``UserContext`` of the request."""
AsyncexpClient: TypeAlias = Annotated[Client, Depends(get_client)]
"""``client: AsyncexpClient`` in a path operation: the running client."""
