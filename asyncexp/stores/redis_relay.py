"""The relay: a Redis stream read through a consumer group, shipped to the ingestion servers.

The shipping side of "web workers → stream → relays → ingestion" (the
producing side is :mod:`.redis_stream`). ``run_relay(...)`` is the library
coroutine, ``asyncexp relay`` the command line over it. Rules:

* **Consumer group** (``group``, created at ``0`` with ``MKSTREAM`` when
  missing, and again if Redis comes back without it): several relays share it,
  each entry goes to one of them. A relay first re-reads what its own
  consumer name left pending (a restart with the same ``consumer``), then
  reads new entries (``XREADGROUP … >``, blocking ``block`` seconds).
* **Shipping** with the HTTP machinery of the collectors: the entries read
  are grouped by destination and merged into requests of at most
  ``max_request_items`` items: Analysys records to ``{url}/up``
  (:mod:`~asyncexp.aio.collectors.wire` encoding, gzip+base64 by default,
  success only on ``{"code":200}``), Optimizely batches (merged when their
  account/project/revision fields agree) to the entry's events URL, or to
  ``optimizely_events_url`` when given. An entry names its events URL, so
  only Optimizely's US and EU endpoints and ``allowed_events_urls`` are posted
  to (whoever can write the stream cannot make the relays post elsewhere);
  entries for another URL are dead-lettered. ``concurrency`` requests at once over one
  :class:`~asyncexp.aio.http.HttpTransport`.
* **Retries**: connection errors, timeouts, 5xx and 429 are retried without
  limit with the :class:`~asyncexp.aio.http.RetryPolicy` backoff, ``Retry-After``
  honoured. While a batch is being shipped (a slow server, retries) its
  entries are re-claimed by this relay (``XCLAIM … JUSTID``, which resets
  their idle time) every ``claim_idle / 3`` seconds, so the other relays take
  over only the entries of a relay that stopped working (died, hangs).
* **Acknowledge after the server did**: ``XACK`` (and ``XDEL`` with
  ``delete_acked``, the default, so the stream holds only what is not shipped
  yet and every ``MAXLEN`` trim is visible as lost data) only once the server
  answered success. A relay killed before that leaves the entries pending.
* **Claiming**: every ``claim_interval`` seconds ``XAUTOCLAIM`` takes the
  entries pending for longer than ``claim_idle`` seconds (a relay that died,
  or hangs) and ships them.
* **Refused** (a 4xx other than 429, an Analysys error code) or a 2xx without
  ``{"code":200}`` for the second time: the entries are copied to
  ``dead_letter_stream`` (default ``<stream>:dead``) with the reason, then
  acknowledged, and counted in ``rejected``.
* **Redis unreachable**: the relay logs (once per interval), waits with
  backoff and goes on; an acknowledgement that fails is retried, and if the
  relay stops first the entries stay pending and are shipped again by a relay
  (at-least-once: receivers de-duplicate on ``$record_id`` / ``uuid``).
* **Status**: every ``status_interval`` seconds ``on_status`` gets
  :meth:`RelayStats.as_dict` (delivered, retried, claimed, rejected, pending of
  the group, backlog = stream length, lag = entries not yet read by the
  group); the CLI prints a line on stderr and writes it as JSON.

Stopping (``stop`` set): no new reads; the requests in flight get
``stop_timeout`` seconds to finish, then they are abandoned: their entries stay
pending and are claimed by the others (or re-read by this consumer name when
it starts again). A cancelled ``run()`` abandons them at once.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import gzip
import logging
import os
import random
import socket
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from asyncexp.aio.collectors.replay import MAX_UNCONFIRMED_COPIES
from asyncexp.aio.collectors.wire import (
    OPTIMIZELY_HEADERS,
    Encoding,
    analysys_headers,
    analysys_response_code,
    analysys_up_url,
)
from asyncexp.aio.http import (
    Attempt,
    HttpTransport,
    RetryPolicy,
    TransportError,
    attempt_from_status,
)
from asyncexp.aio.redaction import safe_url
from asyncexp.core.flags.events import EU_EVENTS_URL, US_EVENTS_URL
from asyncexp.errors import ConfigError
from asyncexp.stores.redis_connection import RedisConnection, StoreUnavailableError, load_redis
from asyncexp.stores.redis_stream import ANALYSYS_DESTINATION, DEFAULT_STREAM

__all__ = ["DEFAULT_GROUP", "RelayStats", "StreamRelay", "run_relay"]

logger = logging.getLogger("asyncexp.stores.relay")

DEFAULT_GROUP = "asyncexp-relay"
_NOGROUP = object()
StatusFn = Callable[[dict[str, Any]], "Awaitable[None] | None"]


@dataclass(slots=True)
class RelayStats:
    """Counters of one relay, readable at any time."""

    consumer: str = ""
    delivered: int = 0
    """Items the ingestion servers acknowledged (and that were then acknowledged in Redis)."""
    delivered_entries: int = 0
    requests: int = 0
    retried: int = 0
    """Requests repeated after a retryable failure."""
    failed_requests: int = 0
    claimed: int = 0
    """Entries taken over from another consumer (``XAUTOCLAIM``)."""
    rejected: int = 0
    """Items refused by a server, moved to the dead-letter stream."""
    read_entries: int = 0
    redis_failures: int = 0
    ack_retries: int = 0
    heartbeats: int = 0
    """Times the entries of a batch being shipped were re-claimed to keep them this relay's."""
    pending: int | None = None
    """Entries of the group read but not acknowledged (by any relay), last measured."""
    backlog: int | None = None
    """Entries in the stream, last measured (with ``delete_acked``: not shipped yet)."""
    lag: int | None = None
    """Entries the group has not read yet, last measured (``None``: unknown)."""
    last_error: str | None = None
    started: float = field(default_factory=time.time)

    def as_dict(self) -> dict[str, Any]:
        return {
            "consumer": self.consumer,
            "delivered": self.delivered,
            "delivered_entries": self.delivered_entries,
            "requests": self.requests,
            "retried": self.retried,
            "failed_requests": self.failed_requests,
            "claimed": self.claimed,
            "rejected": self.rejected,
            "read_entries": self.read_entries,
            "redis_failures": self.redis_failures,
            "ack_retries": self.ack_retries,
            "heartbeats": self.heartbeats,
            "pending": self.pending,
            "backlog": self.backlog,
            "lag": self.lag,
            "last_error": self.last_error,
            "uptime": round(time.time() - self.started, 3),
        }


@dataclass(slots=True)
class _Entry:
    id: bytes
    destination: str
    body: bytes
    count: int


@dataclass(slots=True)
class _Request:
    url: str
    analysys: bool
    ids: list[bytes]
    count: int
    parts: list[bytes]
    unconfirmed: int = 0
    refused: bool = False
    """The destination is not allowed: dead-lettered without a request."""


def _default_consumer() -> str:
    return f"{socket.gethostname()}-{os.getpid()}"


class StreamRelay:
    """One relay process's worth of work (see the module docstring); ``run()`` until stopped."""

    def __init__(
        self,
        redis: str | RedisConnection,
        *,
        url: str | None,
        stream: str = DEFAULT_STREAM,
        group: str = DEFAULT_GROUP,
        consumer: str | None = None,
        optimizely_events_url: str | None = None,
        allowed_events_urls: Sequence[str] = (),
        encoding: Encoding = "gzip",
        compress_level: int = 1,
        request_timeout: float = 10.0,
        retry: RetryPolicy | None = None,
        read_count: int = 20,
        block: float = 0.5,
        max_request_items: int = 1000,
        concurrency: int = 4,
        claim_idle: float = 30.0,
        claim_interval: float = 5.0,
        delete_acked: bool = True,
        dead_letter_stream: str | None = None,
        status_interval: float = 5.0,
        stop_timeout: float = 5.0,
        on_status: StatusFn | None = None,
        transport: HttpTransport | None = None,
        jitter: Callable[[], float] = random.random,
    ) -> None:
        if url is not None and not (
            isinstance(url, str) and url.startswith(("http://", "https://"))
        ):
            raise ConfigError(f"url: must be an http(s) URL, got {safe_url(str(url))!r}")
        if optimizely_events_url is not None and not (
            isinstance(optimizely_events_url, str)
            and optimizely_events_url.startswith(("http://", "https://"))
        ):
            raise ConfigError("optimizely_events_url: must be an http(s) URL")
        if encoding not in ("gzip", "json"):
            raise ConfigError(f"encoding: must be 'gzip' or 'json', got {encoding!r}")
        for name, value in (
            ("read_count", read_count),
            ("max_request_items", max_request_items),
            ("concurrency", concurrency),
        ):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"{name}: must be an int >= 1, got {value!r}")
        for name, number in (
            ("block", block),
            ("claim_idle", claim_idle),
            ("claim_interval", claim_interval),
            ("status_interval", status_interval),
            ("request_timeout", request_timeout),
        ):
            if isinstance(number, bool) or not isinstance(number, int | float) or number <= 0:
                raise ConfigError(f"{name}: must be a number > 0, got {number!r}")
        if isinstance(redis, str):
            timeout = max(2.0, block + 1.5)
            redis = RedisConnection(redis, op_timeout=timeout, connect_timeout=1.0)
        self._redis = redis
        self._up_url = None if url is None else analysys_up_url(url)
        self._events_url = optimizely_events_url
        self._allowed = {US_EVENTS_URL, EU_EVENTS_URL, *allowed_events_urls}
        self.stream = stream
        self.group = group
        self.consumer = consumer or _default_consumer()
        self._encoding: Encoding = encoding
        self._level = compress_level
        self._headers = analysys_headers(encoding)
        self._timeout = float(request_timeout)
        self._retry = retry or RetryPolicy(max_retries=0, base_delay=0.5, max_delay=10.0)
        self._read_count = read_count
        self._block_ms = max(1, int(block * 1000))
        self._max_items = max_request_items
        self._limit = asyncio.Semaphore(concurrency)
        self._claim_idle_ms = max(1, int(claim_idle * 1000))
        self._claim_interval = float(claim_interval)
        self._delete_acked = delete_acked
        self._dead = dead_letter_stream or f"{stream}:dead"
        self._status_interval = float(status_interval)
        self._on_status = on_status
        self._transport = transport
        self._owns_transport = transport is None
        self._jitter = jitter
        self._stop = asyncio.Event()
        self._redis_failures_in_row = 0
        self._acks: set[asyncio.Future[None]] = set()
        self._stopping = False
        self._stop_timeout = float(stop_timeout)
        self.stats = RelayStats(consumer=self.consumer)

    def __repr__(self) -> str:
        return (
            f"StreamRelay({self._redis.url!r}, stream={self.stream!r}, group={self.group!r}, "
            f"consumer={self.consumer!r})"
        )

    def stop(self) -> None:
        """Ask ``run()`` to return; requests in flight are abandoned, left pending."""
        self._stop.set()

    # -- the loop ----------------------------------------------------------------------------
    async def run(self, stop: asyncio.Event | None = None) -> RelayStats:
        """Relay until ``stop`` (or :meth:`stop`) is set; returns the final counters."""
        await self._redis.start()
        if self._transport is None:
            self._transport = HttpTransport()
        stopper = asyncio.ensure_future((stop or self._stop).wait())
        own = asyncio.ensure_future(self._stop.wait())
        work = asyncio.ensure_future(self._work())
        status = asyncio.ensure_future(self._status_loop())
        try:
            await asyncio.wait([stopper, own, work], return_when=asyncio.FIRST_COMPLETED)
            if work.done():
                work.result()  # a bug: raise it
            # stop reading; the requests in flight get ``stop_timeout`` seconds to finish
            self._stopping = True
            await asyncio.wait([work], timeout=self._stop_timeout)
        finally:
            for task in (stopper, own, work, status):
                task.cancel()
            await asyncio.gather(stopper, own, work, status, return_exceptions=True)
            if self._acks:  # acknowledgements of what the servers took: a few seconds at most
                acks = list(self._acks)
                _, late = await asyncio.wait(acks, timeout=self._redis.op_timeout * 2)
                for ack in late:
                    ack.cancel()
                await asyncio.gather(*acks, return_exceptions=True)
            with contextlib.suppress(Exception):
                await self._measure()
            await self._emit_status()
            if self._owns_transport and self._transport is not None:
                await self._transport.aclose()
            await self._redis.aclose()
            logger.info("relay %s stopped: %s", self.consumer, self.stats.as_dict())
        return self.stats

    async def _work(self) -> None:
        # first our own pending entries (a restart with the same name), once, in id order:
        # the cursor moves past what was read, so an entry left pending is not re-read here
        cursor: str | None = "0"
        next_claim = 0.0
        loop = asyncio.get_running_loop()
        while not self._stopping:
            try:
                if cursor is not None:
                    entries = await self._read(cursor)
                    cursor = entries[-1].id.decode() if entries else None
                elif loop.time() >= next_claim:
                    next_claim = loop.time() + self._claim_interval
                    entries = await self._autoclaim()
                    if not entries:
                        continue
                else:
                    entries = await self._read(">")
            except StoreUnavailableError as exc:
                await self._redis_down(exc)
                continue
            self._redis_failures_in_row = 0
            if entries:
                await self._ship(entries)

    async def _redis_down(self, exc: Exception) -> None:
        self.stats.redis_failures += 1
        self.stats.last_error = str(exc)
        self._redis_failures_in_row += 1
        ceiling = min(5.0, 0.1 * (2.0 ** min(self._redis_failures_in_row, 10)))
        await asyncio.sleep(ceiling / 2 + self._jitter() * ceiling / 2)

    # -- Redis -------------------------------------------------------------------------------
    async def _ensure_group(self) -> None:
        aioredis = load_redis()

        async def create(client: Any) -> None:
            try:
                await client.xgroup_create(self.stream, self.group, id="0", mkstream=True)
            except aioredis.ResponseError as exc:
                if "BUSYGROUP" not in str(exc):
                    raise

        await self._redis.call("XGROUP CREATE", create)

    async def _read(self, start: str) -> list[_Entry]:
        aioredis = load_redis()
        block = self._block_ms if start == ">" else None

        async def read(client: Any) -> Any:
            try:
                return await client.xreadgroup(
                    self.group,
                    self.consumer,
                    {self.stream: start},
                    count=self._read_count,
                    block=block,
                )
            except aioredis.ResponseError as exc:
                if "NOGROUP" in str(exc):
                    return _NOGROUP
                raise

        reply = await self._redis.call("XREADGROUP", read)
        if reply is _NOGROUP:
            logger.info("relay %s: creating the consumer group %r", self.consumer, self.group)
            await self._ensure_group()
            return []
        entries: list[_Entry] = []
        for _name, items in reply or ():
            entries.extend(self._parse(items))
        self.stats.read_entries += len(entries)
        return entries

    async def _autoclaim(self) -> list[_Entry]:
        aioredis = load_redis()
        claimed: list[Any] = []

        async def claim(client: Any) -> Any:
            cursor: Any = "0-0"
            try:
                for _ in range(10):  # at most 10 × read_count entries per claim pass
                    reply = await client.xautoclaim(
                        self.stream,
                        self.group,
                        self.consumer,
                        self._claim_idle_ms,
                        start_id=cursor,
                        count=self._read_count,
                    )
                    cursor, items = reply[0], reply[1]
                    claimed.extend(items)
                    if cursor in (b"0-0", "0-0") or not items:
                        break
            except aioredis.ResponseError as exc:
                if "NOGROUP" in str(exc):
                    return _NOGROUP
                raise
            return None

        if await self._redis.call("XAUTOCLAIM", claim) is _NOGROUP:
            await self._ensure_group()
            return []
        entries = self._parse(claimed)
        if claimed:
            self.stats.claimed += len(claimed)
            logger.info(
                "relay %s: claimed %d entr(ies) pending longer than %.1fs",
                self.consumer,
                len(claimed),
                self._claim_idle_ms / 1000,
            )
        return entries

    def _parse(self, items: Sequence[Any]) -> list[_Entry]:
        out: list[_Entry] = []
        for entry_id, fields in items:
            if not fields:  # deleted or trimmed while pending: nothing to ship
                out.append(_Entry(entry_id, "", b"", 0))
                continue
            try:
                destination = fields[b"d"].decode()
                body = fields[b"b"]
                count = int(fields.get(b"n", b"0"))
            except (KeyError, ValueError, UnicodeDecodeError):
                logger.warning(
                    "relay %s: entry %r is not an asyncexp entry", self.consumer, entry_id
                )
                out.append(_Entry(entry_id, "", b"", 0))
                continue
            out.append(_Entry(entry_id, destination, body, count))
        return out

    async def _ack(self, ids: Sequence[bytes]) -> None:
        """XACK (and XDEL) ``ids``, retried while Redis is down (until the relay stops)."""
        if not ids:
            return

        async def ack(client: Any) -> Any:
            pipe = client.pipeline(transaction=False)
            pipe.xack(self.stream, self.group, *ids)
            if self._delete_acked:
                pipe.xdel(self.stream, *ids)
            return await pipe.execute()

        while True:
            try:
                await self._redis.call("XACK", ack)
                return
            except StoreUnavailableError as exc:
                self.stats.ack_retries += 1
                await self._redis_down(exc)

    async def _touch(self, ids: Sequence[bytes]) -> None:
        """Reset the idle time of entries this relay is still working on."""

        async def claim(client: Any) -> Any:
            return await client.xclaim(
                self.stream, self.group, self.consumer, 0, list(ids), justid=True
            )

        with contextlib.suppress(StoreUnavailableError):
            await self._redis.call("XCLAIM", claim)

    async def _dead_letter(self, request: _Request, reason: str) -> None:
        body = self._body(request)

        async def add(client: Any) -> Any:
            return await client.xadd(
                self._dead,
                {b"u": request.url.encode(), b"b": body, b"n": str(request.count).encode(),
                 b"r": reason.encode()},
            )  # fmt: skip

        while True:
            try:
                await self._redis.call("XADD", add)
                break
            except StoreUnavailableError as exc:
                await self._redis_down(exc)
        self.stats.rejected += request.count
        await self._ack(request.ids)

    # -- shipping ----------------------------------------------------------------------------
    def _requests(self, entries: Sequence[_Entry]) -> tuple[list[_Request], list[bytes]]:
        """Entries merged into requests (by destination), and ids with nothing to ship."""
        empty: list[bytes] = []
        records: list[_Request] = []
        events: dict[tuple[str, bytes], _Request] = {}
        out: list[_Request] = []
        for entry in entries:
            if not entry.destination:
                empty.append(entry.id)
            elif entry.destination == ANALYSYS_DESTINATION:
                if self._up_url is None:
                    logger.warning(
                        "relay %s: an entry of Analysys records and no --url; left pending",
                        self.consumer,
                    )
                    continue
                current = records[-1] if records else None
                if current is None or current.count + entry.count > self._max_items:
                    current = _Request(self._up_url, True, [], 0, [])
                    records.append(current)
                inner = entry.body.strip()[1:-1]  # the JSON array's elements
                if inner.strip():
                    current.parts.append(inner)
                current.ids.append(entry.id)
                current.count += entry.count
            else:
                self._merge_events(entry, events, out)
        out.extend(records)
        out.extend(events.values())
        return out, empty

    def _merge_events(
        self, entry: _Entry, open_: dict[tuple[str, bytes], _Request], out: list[_Request]
    ) -> None:
        url = self._events_url or entry.destination
        if self._events_url is None and url not in self._allowed:
            # an entry names where it goes: only the endpoints allowed are ever posted to
            out.append(_Request(url, False, [entry.id], entry.count, [entry.body], refused=True))
            return
        try:
            batch = orjson.loads(entry.body)
            visitors = batch.pop("visitors")
            key = (url, orjson.dumps(batch, option=orjson.OPT_SORT_KEYS))
        except (ValueError, KeyError, TypeError, AttributeError):
            key = (url, entry.id)  # ship it alone, as it is
            visitors = None
            batch = None
        if visitors is None or not isinstance(visitors, list):
            out.append(_Request(url, False, [entry.id], entry.count, [entry.body]))
            return
        current = open_.get(key)
        if current is not None and current.count + entry.count > self._max_items:
            out.append(open_.pop(key))
            current = None
        if current is None:
            current = open_[key] = _Request(url, False, [], 0, [orjson.dumps(batch)])
        current.parts.extend(orjson.dumps(v) for v in visitors)
        current.ids.append(entry.id)
        current.count += entry.count

    def _body(self, request: _Request) -> bytes:
        if request.analysys:
            raw = b"[" + b",".join(request.parts) + b"]"
            if self._encoding == "json":
                return raw
            return base64.b64encode(gzip.compress(raw, compresslevel=self._level, mtime=0))
        if len(request.parts) == 1:  # an entry shipped as it is
            return request.parts[0]
        head = request.parts[0]  # the batch without its visitors, then each visitor
        return head[:-1] + b',"visitors":[' + b",".join(request.parts[1:]) + b"]}"

    async def _ship(self, entries: Sequence[_Entry]) -> None:
        requests, empty = self._requests(entries)
        if empty:
            await self._ack(empty)
        for request in requests:
            if request.refused:
                logger.warning(
                    "relay %s: %d item(s) for %s, an events URL not allowed "
                    "(allowed_events_urls / --allow-events-url); moved to %r",
                    self.consumer,
                    request.count,
                    safe_url(request.url),
                    self._dead,
                )
                await self._dead_letter(request, "destination not allowed")
        sends = [self._send(r) for r in requests if not r.refused]
        if not sends:
            return
        ids = [i for r in requests if not r.refused for i in r.ids]
        heartbeat = asyncio.ensure_future(self._heartbeat(ids))
        try:
            await asyncio.gather(*sends)
        finally:
            heartbeat.cancel()
            await asyncio.gather(heartbeat, return_exceptions=True)

    async def _heartbeat(self, ids: Sequence[bytes]) -> None:
        """While a batch is being shipped (slow server, retries), re-claim its entries every
        ``claim_idle / 3`` so that the other relays never take them over as abandoned."""
        while True:
            await asyncio.sleep(self._claim_idle_ms / 3000)
            await self._touch(ids)
            self.stats.heartbeats += 1

    async def _send(self, request: _Request) -> None:
        async with self._limit:
            body = self._body(request)
            headers = self._headers if request.analysys else OPTIMIZELY_HEADERS
            retry = 0
            while True:
                outcome = await self._post(request.url, body, headers, request.analysys)
                if outcome.ok:
                    # the server has the items: the XACK completes even if the relay stops now
                    ack = asyncio.ensure_future(self._ack(request.ids))
                    self._acks.add(ack)
                    ack.add_done_callback(self._acks.discard)
                    await asyncio.shield(ack)
                    self.stats.delivered += request.count
                    self.stats.delivered_entries += len(request.ids)
                    return
                if outcome.reason == "unconfirmed":
                    request.unconfirmed += 1
                    if request.unconfirmed >= MAX_UNCONFIRMED_COPIES:
                        logger.warning(
                            "relay %s: %s answered 2xx without success %d times; %d item(s) "
                            "moved to %r",
                            self.consumer,
                            safe_url(request.url),
                            request.unconfirmed,
                            request.count,
                            self._dead,
                        )
                        await self._dead_letter(request, "unconfirmed")
                        return
                elif not outcome.retryable:
                    logger.warning(
                        "relay %s: %s refused %d item(s) (%s); moved to %r",
                        self.consumer,
                        safe_url(request.url),
                        request.count,
                        outcome.detail,
                        self._dead,
                    )
                    await self._dead_letter(request, outcome.detail)
                    return
                delay = self._retry.delay(min(retry, 30), self._jitter(), outcome.retry_after)
                self.stats.retried += 1
                logger.info(
                    "relay %s: retrying %s in %.2fs after %s",
                    self.consumer,
                    safe_url(request.url),
                    delay,
                    outcome.detail,
                )
                await asyncio.sleep(delay)
                retry += 1

    async def _post(
        self, url: str, body: bytes, headers: dict[str, str], check_code: bool
    ) -> Attempt:
        stats = self.stats
        stats.requests += 1
        assert self._transport is not None
        try:
            response = await self._transport.post(url, body, headers=headers, timeout=self._timeout)
        except TransportError as exc:
            outcome = Attempt(False, True, "transport", None, str(exc))
        else:
            outcome = attempt_from_status(response)
            if outcome.ok and check_code:
                code = analysys_response_code(response.body)
                if code != 200:
                    retryable = code is None or code >= 500
                    outcome = Attempt(
                        False,
                        retryable,
                        "unconfirmed" if retryable else "analysys_code",
                        None,
                        f"response code {code} (HTTP {response.status})",
                    )
        if not outcome.ok:
            stats.failed_requests += 1
            stats.last_error = outcome.detail
        return outcome

    # -- status ------------------------------------------------------------------------------
    async def _measure(self) -> None:
        async def measure(client: Any) -> Any:
            pipe = client.pipeline(transaction=False)
            pipe.xlen(self.stream)
            pipe.xinfo_groups(self.stream)
            return await pipe.execute(raise_on_error=False)

        length, groups = await self._redis.call("XINFO", measure)
        stats = self.stats
        stats.backlog = int(length) if isinstance(length, int) else None
        mine = None
        if isinstance(groups, list):
            for group in groups:
                name = group.get("name")
                if name in (self.group, self.group.encode()):
                    mine = group
        if mine is None:
            stats.pending = stats.lag = None
            return
        stats.pending = int(mine.get("pending", 0))
        lag = mine.get("lag")  # Redis >= 7
        if lag is not None:
            stats.lag = int(lag)
        elif self._delete_acked and stats.backlog is not None:
            stats.lag = max(0, stats.backlog - stats.pending)
        else:
            stats.lag = None

    async def _emit_status(self) -> None:
        if self._on_status is None:
            return
        try:
            result = self._on_status(self.stats.as_dict())
            if result is not None:
                await result
        except Exception:
            logger.exception("relay status callback failed")

    async def _status_loop(self) -> None:
        while True:
            await asyncio.sleep(self._status_interval)
            with contextlib.suppress(StoreUnavailableError):
                await self._measure()
            await self._emit_status()


async def run_relay(
    redis: str | RedisConnection,
    *,
    url: str | None,
    stop: asyncio.Event | None = None,
    **options: Any,
) -> RelayStats:
    """Run a :class:`StreamRelay` until ``stop`` is set (or the task is cancelled).

    The keywords are :class:`StreamRelay`'s; returns the final counters.
    """
    relay = StreamRelay(redis, url=url, **options)
    return await relay.run(stop)
