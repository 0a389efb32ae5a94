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

The retry policy every sender shares lives in :mod:`asyncexp.aio.retry`
(re-exported here).
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import aiohttp

from asyncexp.aio.redaction import redact, safe_url, url_secrets
from asyncexp.aio.retry import (
    Attempt,
    RetryPolicy,
    call_with_retries,
    is_retryable_status,
    parse_retry_after,
)
from asyncexp.errors import ClientClosedError, ClientStateError, DeliveryError

__all__ = [
    "DEFAULT_MAX_RESPONSE_BYTES",
    "USER_AGENT",
    "Attempt",
    "HttpResponse",
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


class HttpTransport:
    """One ``aiohttp.ClientSession``, created on first use and closed by ``aclose``."""

    def __init__(
        self,
        *,
        user_agent: str = USER_AGENT,
        connection_limit: int = 100,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
    ) -> None:
        self._user_agent = user_agent
        self._limit = connection_limit
        self._max_response_bytes = max_response_bytes
        self._session: aiohttp.ClientSession | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closed = False

    @property
    def closed(self) -> bool:
        return self._closed

    def _get_session(self) -> aiohttp.ClientSession:
        if self._closed:
            raise ClientClosedError("the HTTP transport is closed")
        loop = asyncio.get_running_loop()
        if self._session is None:
            self._loop = loop
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self._limit),
                headers={"User-Agent": self._user_agent},
                timeout=aiohttp.ClientTimeout(total=None),
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
        limit = self._max_response_bytes if max_response_bytes is None else max_response_bytes
        try:
            async with session.request(
                method,
                url,
                data=data,
                headers=headers,
                timeout=_client_timeout(timeout),
                allow_redirects=False,
            ) as resp:
                body = await _read_capped(resp, limit)
                return HttpResponse(resp.status, resp.headers, body)
        except TimeoutError as exc:
            raise TransportError(
                f"{method} {safe_url(url)}: timed out after {timeout}s", timed_out=True
            ) from exc
        except (aiohttp.ClientError, OSError) as exc:
            error, cause = _scrubbed(method, url, exc)
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
    method: str, url: str, exc: BaseException
) -> tuple[TransportError, BaseException | None]:
    """A ``TransportError`` for ``exc`` whose text holds no secret of ``url``, and its cause:
    ``exc`` when its own text holds none either, else None."""
    shown = safe_url(url)
    secrets = url_secrets(url)
    raw = str(exc)
    text = redact(raw.replace(url, shown), *secrets)
    error = TransportError(f"{method} {shown}: {type(exc).__name__}: {text}")
    return error, (None if any(secret in raw for secret in secrets) else exc)


@functools.lru_cache(maxsize=64)
def _client_timeout(total: float | None) -> aiohttp.ClientTimeout:
    # frozen and reusable: one per distinct timeout instead of one per request
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
