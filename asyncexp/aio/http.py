"""The one HTTP seam of asyncexp.

:class:`HttpTransport` wraps a single ``aiohttp.ClientSession``. The session is
created lazily by the first request, inside the running loop (so constructing
a transport never needs a loop), and closed by :meth:`HttpTransport.aclose`. A
request returns the status, headers and body bytes (capped in size), or raises
:class:`TransportError` when no response came back (connection refused or
reset, DNS failure, timeout, body too large, or a request aiohttp refuses to
send, such as a header value with a control character).

Messages never hold a secret of the URL: a ``TransportError`` names the URL through
:func:`~asyncexp.aio.redaction.safe_url`, masks the URL's secrets in the text of the
aiohttp error it reports, and keeps that error as ``__cause__`` only when its text
holds none of them.

Network settings (:class:`HttpSettings`, checked when constructed, each error a
``ConfigError`` naming the setting): ``trust_env`` (default True) honours
``HTTP_PROXY``/``HTTPS_PROXY``/``NO_PROXY`` (and ``~/.netrc`` proxy credentials), as
aiohttp's ``trust_env`` does, read once per URL (at its first request; aiohttp's own
lookup costs two executor round trips per request); ``proxy`` is an explicit
``http://`` proxy URL used for every request (it wins over the environment; HTTPS goes
through it with CONNECT); ``ca_file`` (a PEM bundle path) or ``ssl_context`` (an
``ssl.SSLContext``) replace the default certificate verification, e.g. for a corporate
CA. A password in the proxy URL is never shown: reprs and messages go through
``safe_url``.

The retry policy every sender shares lives in :mod:`asyncexp.aio.retry`
(re-exported here).
"""

from __future__ import annotations

import asyncio
import functools
import os
import ssl
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from asyncexp.aio.redaction import redact, safe_url, url_secrets
from asyncexp.aio.retry import (
    Attempt,
    RetryPolicy,
    call_with_retries,
    is_retryable_status,
    parse_retry_after,
)
from asyncexp.errors import ClientClosedError, ClientStateError, ConfigError, DeliveryError

if TYPE_CHECKING:
    import aiohttp

__all__ = [
    "DEFAULT_MAX_RESPONSE_BYTES",
    "USER_AGENT",
    "Attempt",
    "HttpResponse",
    "HttpSettings",
    "HttpTransport",
    "RetryPolicy",
    "TransportError",
    "attempt_from_status",
    "call_with_retries",
    "is_retryable_status",
    "parse_retry_after",
]

USER_AGENT = "asyncexp/0.1.0"
DEFAULT_MAX_RESPONSE_BYTES = 1 << 20
_CHUNK = 1 << 16


class TransportError(DeliveryError):
    """No HTTP response: connection error, timeout or an oversized body."""

    def __init__(self, message: str, *, timed_out: bool = False) -> None:
        super().__init__(message)
        self.timed_out = timed_out


@dataclass(frozen=True, slots=True)
class HttpResponse:
    status: int
    headers: Mapping[str, str]
    body: bytes


@dataclass(frozen=True, slots=True, repr=False)
class HttpSettings:
    """Proxy and TLS settings of an :class:`HttpTransport` (``Client(http=...)``).

    ``proxy``: an ``http://[user:password@]host:port`` URL for every request;
    ``trust_env``: honour ``HTTP(S)_PROXY``/``NO_PROXY`` when ``proxy`` is not set;
    ``ca_file``: a PEM CA bundle verifying servers instead of the system's;
    ``ssl_context``: a ready ``ssl.SSLContext`` (not together with ``ca_file``).
    """

    proxy: str | None = None
    ca_file: str | os.PathLike[str] | None = None
    ssl_context: ssl.SSLContext | None = None
    trust_env: bool = True

    def __post_init__(self) -> None:
        if not isinstance(self.trust_env, bool):
            raise ConfigError(f"http.trust_env must be a bool, not {type(self.trust_env).__name__}")
        if self.proxy is not None:
            _check_proxy(self.proxy)
        if self.ssl_context is not None and not isinstance(self.ssl_context, ssl.SSLContext):
            raise ConfigError(
                f"http.ssl_context must be an ssl.SSLContext, not {type(self.ssl_context).__name__}"
            )
        if self.ca_file is not None:
            if self.ssl_context is not None:
                raise ConfigError("http.ca_file and http.ssl_context: give one of them, not both")
            if not isinstance(self.ca_file, str | os.PathLike):
                raise ConfigError(f"http.ca_file must be a path, not {type(self.ca_file).__name__}")
            _load_ca(self.ca_file)  # now: a missing or unreadable bundle fails here

    def __repr__(self) -> str:  # the proxy URL may hold a password
        proxy = safe_url(self.proxy) if self.proxy is not None else None
        return (
            f"HttpSettings(proxy={proxy!r}, ca_file={self.ca_file!r}, "
            f"ssl_context={self.ssl_context!r}, trust_env={self.trust_env!r})"
        )

    def ssl(self) -> ssl.SSLContext | bool:
        """What aiohttp's connector verifies with: the context, else the default (True)."""
        if self.ssl_context is not None:
            return self.ssl_context
        if self.ca_file is not None:
            return _load_ca(self.ca_file)
        return True


def _check_proxy(proxy: object) -> None:
    if not isinstance(proxy, str):
        raise ConfigError(f"http.proxy must be a URL string, not {type(proxy).__name__}")
    try:
        parts = urlsplit(proxy)
        port = parts.port
    except ValueError:
        raise ConfigError(f"http.proxy is not a valid URL: {safe_url(proxy)!r}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname or port == 0:
        raise ConfigError(
            f"http.proxy must be an http:// or https:// URL with a host, got {safe_url(proxy)!r}"
        )


def _load_ca(path: str | os.PathLike[str]) -> ssl.SSLContext:
    try:
        return ssl.create_default_context(cafile=os.fspath(path))
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(
            f"http.ca_file {os.fspath(path)!r} could not be loaded: {type(exc).__name__}: {exc}"
        ) from None


_EnvRoute = tuple[object, "aiohttp.BasicAuth | None", "str | None"]
_ENV_ROUTES = 256


def _env_route(url: str) -> _EnvRoute:
    """``(proxy, proxy_auth, Authorization header)`` for ``url`` from the environment, as
    aiohttp's ``trust_env`` finds them (``HTTP(S)_PROXY``/``NO_PROXY``, ``~/.netrc``)."""
    from aiohttp.helpers import basicauth_from_netrc, get_env_proxy_for_url, netrc_from_env
    from yarl import URL

    try:
        parsed = URL(url)
    except ValueError:  # a malformed URL: aiohttp refuses it with its own error
        return None, None, None
    try:
        proxy: object = None
        proxy, proxy_auth = get_env_proxy_for_url(parsed)
    except (LookupError, ValueError):
        proxy_auth = None
    auth = None
    if parsed.host is not None and parsed.user is None:
        try:
            auth = basicauth_from_netrc(netrc_from_env(), parsed.host).encode()
        except LookupError:
            auth = None
    return proxy, proxy_auth, auth


class HttpTransport:
    """One ``aiohttp.ClientSession``, created on first use and closed by ``aclose``;
    ``settings`` (proxy, CA, ``trust_env``) default to ``HttpSettings()``."""

    def __init__(
        self,
        *,
        user_agent: str = USER_AGENT,
        connection_limit: int = 100,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
        settings: HttpSettings | None = None,
    ) -> None:
        if settings is not None and not isinstance(settings, HttpSettings):
            raise ConfigError(f"http must be an HttpSettings, not {type(settings).__name__}")
        self._settings = settings or HttpSettings()
        self._ssl = self._settings.ssl()
        self._proxy_secrets = url_secrets(self._settings.proxy) if self._settings.proxy else ()
        self._user_agent = user_agent
        self._limit = connection_limit
        self._max_response_bytes = max_response_bytes
        self._session: aiohttp.ClientSession | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closed = False
        # trust_env, resolved once per URL: aiohttp's own trust_env makes two executor
        # round trips per request (env proxy, netrc), about 0.2 ms of CPU each request
        self._env_routes: dict[str, _EnvRoute] = {}

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def settings(self) -> HttpSettings:
        return self._settings

    def _get_session(self) -> aiohttp.ClientSession:
        if self._closed:
            raise ClientClosedError("the HTTP transport is closed")
        loop = asyncio.get_running_loop()
        if self._session is None:
            import aiohttp  # loaded with the first session (see _client_timeout)

            self._loop = loop
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self._limit, ssl=self._ssl),
                headers={"User-Agent": self._user_agent},
                timeout=aiohttp.ClientTimeout(total=None),
                trust_env=False,  # the environment is read in _env_route instead
            )
        elif loop is not self._loop:
            raise ClientStateError("an HttpTransport cannot be shared across event loops")
        return self._session

    async def request(
        self,
        method: str,
        url: str,
        *,
        data: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        timeout: float | None = None,
        max_response_bytes: int | None = None,
    ) -> HttpResponse:
        """Send one request; ``timeout`` bounds the whole exchange, in seconds."""
        session = self._get_session()
        import aiohttp

        limit = self._max_response_bytes if max_response_bytes is None else max_response_bytes
        proxy: object = self._settings.proxy
        proxy_auth = None
        if proxy is None and self._settings.trust_env:
            route = self._env_routes.get(url)
            if route is None:
                route = await asyncio.get_running_loop().run_in_executor(None, _env_route, url)
                if len(self._env_routes) < _ENV_ROUTES:
                    self._env_routes[url] = route
            proxy, proxy_auth, auth = route
            if auth is not None and (headers is None or "Authorization" not in headers):
                headers = {**headers, "Authorization": auth} if headers else {"Authorization": auth}
        try:
            async with session.request(
                method,
                url,
                data=data,
                headers=headers,
                timeout=_client_timeout(timeout),
                allow_redirects=False,
                proxy=proxy,  # type: ignore[arg-type]
                proxy_auth=proxy_auth,
            ) as resp:
                body = await _read_capped(resp, limit)
                return HttpResponse(resp.status, resp.headers, body)
        except TimeoutError as exc:
            raise TransportError(
                f"{method} {safe_url(url)}: timed out after {timeout}s", timed_out=True
            ) from exc
        except (aiohttp.ClientError, OSError) as exc:
            error, cause = _scrubbed(method, url, exc, self._proxy_secrets)
            raise error from cause
        except ValueError as exc:
            # aiohttp refuses to send, e.g. a header value with a control character.
            # Its text is not repeated: it could quote a header, and headers hold keys.
            raise TransportError(
                f"{method} {safe_url(url)}: the request could not be sent ({type(exc).__name__})"
            ) from None

    async def post(
        self,
        url: str,
        data: bytes,
        *,
        headers: Mapping[str, str] | None = None,
        timeout: float | None = None,
    ) -> HttpResponse:
        return await self.request("POST", url, data=data, headers=headers, timeout=timeout)

    async def get(
        self,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        timeout: float | None = None,
        max_response_bytes: int | None = None,
    ) -> HttpResponse:
        return await self.request(
            "GET", url, headers=headers, timeout=timeout, max_response_bytes=max_response_bytes
        )

    async def aclose(self) -> None:
        """Close the session; idempotent. Later requests raise ``ClientClosedError``."""
        self._closed = True
        session, self._session = self._session, None
        if session is not None:
            await session.close()


def _scrubbed(
    method: str, url: str, exc: BaseException, extra_secrets: tuple[str, ...] = ()
) -> tuple[TransportError, BaseException | None]:
    """A ``TransportError`` for ``exc`` whose text holds no secret of ``url`` (nor of the
    proxy URL), and its cause: ``exc`` when its own text holds none either, else None."""
    shown = safe_url(url)
    secrets = (*url_secrets(url), *extra_secrets)
    raw = str(exc)
    text = redact(raw.replace(url, shown), *secrets)
    error = TransportError(f"{method} {shown}: {type(exc).__name__}: {text}")
    return error, (None if any(secret in raw for secret in secrets) else exc)


@functools.lru_cache(maxsize=64)
def _client_timeout(total: float | None) -> aiohttp.ClientTimeout:
    # frozen and reusable: one per distinct timeout instead of one per request. aiohttp
    # costs ~100 ms of import (most of it its default TLS context), so it is imported
    # where a session is made or used: a client that never sends never pays for it.
    import aiohttp

    return aiohttp.ClientTimeout(total=total)


async def _read_capped(resp: aiohttp.ClientResponse, limit: int) -> bytes:
    length = resp.content_length
    if length is not None:
        if length > limit:
            raise TransportError(f"response body of {length} bytes exceeds {limit}")
        # the parser stops at Content-Length, so one read cannot exceed the cap
        return await resp.read()
    chunks: list[bytes] = []
    size = 0
    async for chunk in resp.content.iter_chunked(_CHUNK):
        size += len(chunk)
        if size > limit:
            raise TransportError(f"response body exceeds {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def attempt_from_status(response: HttpResponse, *, now: Callable[[], float] = time.time) -> Attempt:
    """2xx is ok; 429/5xx retryable (with ``Retry-After``); any other status is final."""
    status = response.status
    if 200 <= status <= 299:
        return Attempt(ok=True)
    if is_retryable_status(status):
        retry_after = parse_retry_after(response.headers.get("Retry-After"), now())
        return Attempt(False, True, "http_status", retry_after, f"HTTP {status}")
    return Attempt(False, False, "rejected", None, f"HTTP {status}")
