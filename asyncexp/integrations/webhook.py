"""Push updates: Optimizely's datafile webhook, verified, then ``client.refresh()``.

Optimizely calls a webhook URL when a datafile is published, with a POST whose
``X-Hub-Signature`` header is ``sha1=`` followed by the hex HMAC-SHA1 of the raw
body keyed with the webhook's secret (Optimizely's "Configure webhooks" / "Secure a
webhook" documentation). :class:`WebhookReceiver` checks that, framework-neutrally;
:func:`asgi_webhook` (here) and :func:`asyncexp.integrations.aiohttp.setup_webhook`
serve it.

Rules:

* The signature is compared with ``hmac.compare_digest`` over the whole header
  value. A missing signature is answered 401, a wrong one 403; neither triggers
  anything, and neither the secret nor the expected signature is ever logged or
  answered (the secret is also kept out of reprs).
* The body is bounded: a ``Content-Length`` over ``max_body_bytes`` (64 KiB by
  default; Optimizely's payloads are a few hundred bytes) is refused with 413
  before reading, and a body growing past it while read as well. The body is not
  parsed: every signed event means "fetch the datafile now".
* A verified request is answered 202 at once; the refresh runs in a task the
  receiver owns, so the webhook caller (which retries slow answers) never waits on
  the CDN. One refresh per client runs at a time; requests arriving meanwhile
  coalesce into one more after it, so a publish during a fetch is not missed. Each
  refresh is bounded by the client's ``request_timeout``; a failure is logged and
  the next poll or webhook tries again. ``drain()`` awaits the scheduled refreshes,
  ``aclose()`` cancels them (the aiohttp setup does at cleanup, before the client
  closes).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from typing import Any, TypeAlias

from asyncexp.client import Client
from asyncexp.errors import ClientStateError, ConfigError
from asyncexp.integrations.asgi import DEFAULT_KEY, get_client

__all__ = [
    "DEFAULT_MAX_BODY_BYTES",
    "SIGNATURE_HEADER",
    "WebhookReceiver",
    "WebhookStats",
    "asgi_webhook",
    "sign",
]

logger = logging.getLogger("asyncexp.integrations.webhook")

SIGNATURE_HEADER = "X-Hub-Signature"
DEFAULT_MAX_BODY_BYTES = 64 * 1024

Scope: TypeAlias = MutableMapping[str, Any]
Receive: TypeAlias = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send: TypeAlias = Callable[[MutableMapping[str, Any]], Awaitable[None]]


def sign(secret: str | bytes, body: bytes) -> str:
    """The ``X-Hub-Signature`` value Optimizely sends for ``body``: ``sha1=<hex>``."""
    key = secret.encode() if isinstance(secret, str) else secret
    return "sha1=" + hmac.new(key, body, hashlib.sha1).hexdigest()


@dataclass
class WebhookStats:
    accepted: int = 0
    unsigned: int = 0
    bad_signature: int = 0
    too_large: int = 0
    refreshes: int = 0
    refresh_failures: int = 0


class WebhookReceiver:
    """Verifies webhook requests and refreshes the client, in tasks it owns."""

    def __init__(self, secret: str | bytes, *, max_body_bytes: int = DEFAULT_MAX_BODY_BYTES):
        if not isinstance(secret, str | bytes) or not secret:
            raise ConfigError("the webhook secret must be a non-empty str or bytes")
        if isinstance(max_body_bytes, bool) or not isinstance(max_body_bytes, int):
            raise ConfigError("max_body_bytes must be an int")
        if max_body_bytes < 1:
            raise ConfigError(f"max_body_bytes must be positive, not {max_body_bytes}")
        self._secret = secret.encode() if isinstance(secret, str) else bytes(secret)
        self.max_body_bytes = max_body_bytes
        self._tasks: dict[int, asyncio.Task[None]] = {}
        self._again: set[int] = set()
        self.stats = WebhookStats()

    def __repr__(self) -> str:  # never the secret
        return f"WebhookReceiver(max_body_bytes={self.max_body_bytes})"

    def verify(self, body: bytes, signature: str | None) -> int:
        """202 for a valid signature of ``body``, 401 without one, 403 for a wrong one."""
        if not signature:
            self.stats.unsigned += 1
            logger.warning("webhook request refused: no %s header", SIGNATURE_HEADER)
            return 401
        expected = sign(self._secret, body).encode("ascii")
        given = signature.strip().encode("utf-8", "replace")
        if not hmac.compare_digest(expected, given):
            self.stats.bad_signature += 1
            logger.warning("webhook request refused: the %s does not match", SIGNATURE_HEADER)
            return 403
        self.stats.accepted += 1
        return 202

    def too_large(self, content_length: int | None) -> bool:
        if content_length is not None and content_length > self.max_body_bytes:
            self.stats.too_large += 1
            logger.warning("webhook request refused: a body of %d bytes", content_length)
            return True
        return False

    def schedule(self, client: Client) -> None:
        """Refresh ``client`` soon: now, or once more after the refresh running."""
        key = id(client)
        task = self._tasks.get(key)
        if task is not None and not task.done():
            self._again.add(key)
            return
        task = asyncio.get_running_loop().create_task(
            self._refresh(client, key), name="asyncexp-webhook-refresh"
        )
        self._tasks[key] = task

    async def _refresh(self, client: Client, key: int) -> None:
        try:
            while True:
                self._again.discard(key)
                self.stats.refreshes += 1
                try:
                    result = await client.refresh()
                    if not result:  # REJECTED or FAILED: the source logged why
                        self.stats.refresh_failures += 1
                        logger.warning("webhook refresh did not update: %s", result.value)
                except ClientStateError as exc:
                    self.stats.refresh_failures += 1
                    logger.warning("webhook refresh skipped: %s", exc)
                except Exception:
                    self.stats.refresh_failures += 1
                    logger.exception("webhook refresh failed")
                if key not in self._again:
                    return
        finally:
            if self._tasks.get(key) is asyncio.current_task():
                del self._tasks[key]

    async def drain(self) -> None:
        """Wait until no refresh is scheduled or running."""
        while self._tasks:
            await asyncio.gather(*self._tasks.values(), return_exceptions=True)

    async def aclose(self) -> None:
        """Cancel the scheduled refreshes and wait for them to end."""
        tasks = list(self._tasks.values())
        self._again.clear()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def _respond(send: Send, status: int, text: str) -> None:
    body = text.encode()
    headers = [
        (b"content-type", b"text/plain; charset=utf-8"),
        (b"content-length", b"%d" % len(body)),
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


_REASONS = {401: "missing signature", 403: "invalid signature", 413: "body too large"}


class _AsgiWebhook:
    """The ASGI application :func:`asgi_webhook` returns; ``receiver`` is its receiver."""

    def __init__(self, receiver: WebhookReceiver, client: Client | None, key: str) -> None:
        self.receiver = receiver
        self._client = client
        self._key = key

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":  # served on its own: nothing to start
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await self.receiver.aclose()
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] != "http":
            return
        if scope.get("method") != "POST":
            await _respond(send, 405, "POST only")
            return
        headers: dict[str, str] = {}
        for name, value in scope.get("headers") or []:
            headers[name.decode("latin-1").lower()] = value.decode("latin-1")
        length = _content_length(headers.get("content-length"))
        if self.receiver.too_large(length):
            await _respond(send, 413, _REASONS[413])
            return
        body = await _read_body(receive, self.receiver.max_body_bytes)
        if body is None:
            self.receiver.too_large(self.receiver.max_body_bytes + 1)
            await _respond(send, 413, _REASONS[413])
            return
        status = self.receiver.verify(body, headers.get(SIGNATURE_HEADER.lower()))
        if status != 202:
            await _respond(send, status, _REASONS[status])
            return
        try:
            client = self._client or get_client(scope, self._key)
        except ClientStateError:
            logger.warning("webhook: no asyncexp client under %r", self._key)
            await _respond(send, 503, "no client")
            return
        self.receiver.schedule(client)
        await _respond(send, 202, "refresh scheduled")


def _content_length(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


async def _read_body(receive: Receive, limit: int) -> bytes | None:
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def asgi_webhook(
    secret: str | bytes,
    *,
    client: Client | None = None,
    key: str = DEFAULT_KEY,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
) -> _AsgiWebhook:
    """An ASGI app answering Optimizely's webhook (mount it at the webhook's path).

    The client is ``client``, else the lifespan one under ``key``
    (:func:`~asyncexp.integrations.asgi.asyncexp_lifespan`); ``.receiver`` is the
    :class:`WebhookReceiver` (its ``stats``, ``drain()``).
    """
    return _AsgiWebhook(WebhookReceiver(secret, max_body_bytes=max_body_bytes), client, key)
