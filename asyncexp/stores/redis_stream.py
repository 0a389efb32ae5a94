"""``StreamCollector`` / ``RedisStreamCollector``: events appended to a durable log.

The producing side of "web workers → stream → relays → ingestion" (the relay
is :mod:`.redis_relay`). The collector is the queue machinery of every other
collector (:class:`~asyncexp.aio.collectors.pipeline.QueueCollector`: the
same non-blocking ``submit``, byte memory budget, ``flush``, ``aclose``,
``wait_for_room``, counters) composed with a new delivery part,
:class:`StreamDelivery`, which appends each request-sized chunk to a stream
through a :class:`StreamSink` instead of posting it.

* **One entry per chunk** (:class:`StreamEntry`): ``d`` the destination
  (``"analysys"``, or the Optimizely events URL of the chunk's lane), ``b``
  the body as plain JSON (an array of Analysys records, or one Optimizely
  event batch: ``build_event_batch``), ``n`` the item count, ``t`` the wall
  time (ms) the entry was built. Records keep their ``$record_id`` and events
  their ``uuid`` byte for byte, whatever path the chunk takes.
* **Redis** (:class:`RedisStreamSink`): ``XADD`` with ``MAXLEN ~ maxlen``
  (approximate trimming: Redis removes whole macro nodes, so the stream may
  hold somewhat more than ``maxlen`` entries; ``maxlen=None`` never trims).
  Each append is one ``MULTI`` pipeline ``XLEN; XADD…; XLEN``, so the entries
  the cap removed are counted exactly (``stream_stats.trimmed_entries``, with a
  warning): with relays that delete what they acknowledged (the default),
  every trimmed entry is an entry no relay shipped, i.e. data lost to the cap.
* **Redis unreachable** (a failed or timed-out append): the chunk goes to the
  local disk spool (:mod:`asyncexp.aio.collectors.spool`, the same files and
  cap as the HTTP collectors), the outage logic of :mod:`~asyncexp.aio.collectors.health`
  applies (after ``OUTAGE_AFTER`` failures new chunks go straight to the spool
  and the stream is probed with backoff) and the spool re-sender appends the
  spooled chunks to the stream, oldest first, once Redis answers. A timed-out
  ``XADD`` may still have been applied: the chunk is then in the stream twice
  (at-least-once; receivers de-duplicate on the ids).
* In outage mode the log is also probed with ``sink.ping()`` (backoff as the
  spool probes), so outage mode ends even when the spool holds nothing to
  probe with (another process sharing it appended every file already).
* A **Kafka** (or any log) sink is a :class:`StreamSink`: ``start``,
  ``append(entries) -> trimmed``, ``ping``, ``aclose``; raise
  :class:`~asyncexp.stores.redis_connection.StoreUnavailableError` when the
  log cannot take the entries and the collector spools them.

Every item ends counted as in every collector: ``delivered`` (appended to the
stream), ``spooled`` (and ``replayed`` once the spool re-sender appended it),
or ``dropped`` by reason.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TypedDict, Unpack

import orjson

from asyncexp.aio.collectors.base import (
    DROP_RETRIES_EXHAUSTED,
    DROP_SHUTDOWN_TIMEOUT,
    DROP_UNENCODABLE,
    CollectorStats,
)
from asyncexp.aio.collectors.health import Health
from asyncexp.aio.collectors.lanes import Accumulator
from asyncexp.aio.collectors.pipeline import (
    DEFAULT_MEMORY_BUDGET_MIB,
    Clock,
    LaneKey,
    QueueCollector,
    WaitFn,
    wait_event,
)
from asyncexp.aio.collectors.replay import SpoolReplayer
from asyncexp.aio.collectors.spool import (
    OnFull,
    SpoolBatch,
    SpoolSetting,
    SpoolStore,
    resolve_spool,
)
from asyncexp.aio.collectors.spool_writer import SpoolSink
from asyncexp.aio.http import Attempt, HttpTransport
from asyncexp.aio.redaction import safe_url
from asyncexp.core.flags.events import UserEvent, build_event_batch
from asyncexp.errors import ArgumentTypeError, ConfigError
from asyncexp.stores.redis_connection import RedisConnection, StoreUnavailableError

__all__ = [
    "ANALYSYS_DESTINATION",
    "DEFAULT_STREAM",
    "RedisStreamCollector",
    "RedisStreamSink",
    "StreamCollector",
    "StreamDelivery",
    "StreamEntry",
    "StreamOptions",
    "StreamSink",
    "StreamStats",
    "entry_fields",
]

logger = logging.getLogger("asyncexp.stores.stream")

ANALYSYS_DESTINATION = "analysys"
"""The ``d`` field of an entry of Analysys records (the relay posts it to ``{url}/up``)."""
DEFAULT_STREAM = "asyncexp:events"
_SPOOLED_ANALYSYS = "http://analysys.stream.asyncexp.invalid/up"
# the spool keeps http(s) URLs only: an entry of Analysys records is spooled under this
# name (``.invalid`` is reserved, RFC 2606: it never resolves) and appended back as "analysys"
_RECORDS: LaneKey = ("analysys",)
_TRIM_LOG_INTERVAL = 10.0


@dataclass(frozen=True, slots=True)
class StreamEntry:
    """One chunk as it goes into the log (see the module docstring for the fields)."""

    destination: str
    body: bytes
    count: int
    created_ms: int


def entry_fields(entry: StreamEntry) -> dict[bytes, bytes]:
    """The stream fields of ``entry`` (what the relay reads back)."""
    return {
        b"d": entry.destination.encode(),
        b"b": entry.body,
        b"n": str(entry.count).encode(),
        b"t": str(entry.created_ms).encode(),
    }


class StreamSink(Protocol):
    """Where a :class:`StreamCollector` appends its chunks (Redis here; Kafka is an adapter)."""

    async def start(self) -> None:
        """Open connections (called before the first append)."""

    async def append(self, entries: Sequence[StreamEntry]) -> int:
        """Append every entry durably, or raise ``StoreUnavailableError`` (then none counts
        as appended and the collector spools them all). Returns the entries the log's cap
        removed meanwhile (0 if it cannot tell)."""

    async def aclose(self) -> None:
        """Close what ``start`` opened."""

    async def ping(self) -> None:
        """Return if the log answers, else raise ``StoreUnavailableError`` (outage probes)."""

    def describe(self) -> str:
        """The log as it may be shown (no secret)."""


class RedisStreamSink:
    """``XADD`` into one Redis stream, with an approximate ``MAXLEN`` cap, trims counted."""

    def __init__(
        self,
        connection: RedisConnection,
        stream: str = DEFAULT_STREAM,
        *,
        maxlen: int | None = 1_000_000,
    ) -> None:
        if not isinstance(stream, str) or not stream:
            raise ConfigError("stream: must be a non-empty string")
        if maxlen is not None and (isinstance(maxlen, bool) or not isinstance(maxlen, int)):
            raise ConfigError(f"maxlen: must be an int >= 1 or None, got {maxlen!r}")
        if maxlen is not None and maxlen < 1:
            raise ConfigError(f"maxlen: must be an int >= 1 or None, got {maxlen!r}")
        self.connection = connection
        self.stream = stream
        self.maxlen = maxlen
        self._started = False

    def describe(self) -> str:
        return f"{self.connection.url} stream {self.stream!r}"

    async def start(self) -> None:
        if not self._started:
            self._started = True
            await self.connection.start()

    async def aclose(self) -> None:
        if self._started:
            self._started = False
            await self.connection.aclose()

    async def ping(self) -> None:
        await self.start()
        await self.connection.call("PING", lambda client: client.ping())

    async def append(self, entries: Sequence[StreamEntry]) -> int:
        if not entries:
            return 0
        await self.start()
        stream, maxlen = self.stream, self.maxlen

        async def run(client: Any) -> list[Any]:
            pipe = client.pipeline(transaction=True)
            pipe.xlen(stream)
            for entry in entries:
                fields = entry_fields(entry)
                if maxlen is None:
                    pipe.xadd(stream, fields)
                else:
                    pipe.xadd(stream, fields, maxlen=maxlen, approximate=True)
            pipe.xlen(stream)
            result: list[Any] = await pipe.execute()
            return result

        replies = await self.connection.call("XADD", run)
        before, after = int(replies[0]), int(replies[-1])
        return max(0, before + len(entries) - after)


@dataclass(slots=True)
class StreamStats:
    """The stream side of a :class:`StreamCollector` (items are in ``collector.stats``)."""

    appended_entries: int = 0
    """Entries appended (chunks from memory and from the spool)."""
    appended_items: int = 0
    trimmed_entries: int = 0
    """Entries the ``MAXLEN ~`` cap removed while this collector appended."""
    append_failures: int = 0
    """Appends that failed (Redis unreachable, timed out, refused)."""

    def as_dict(self) -> dict[str, int]:
        return {
            "appended_entries": self.appended_entries,
            "appended_items": self.appended_items,
            "trimmed_entries": self.trimmed_entries,
            "append_failures": self.append_failures,
        }


class StreamDelivery:
    """The Delivery of a :class:`StreamCollector`: append, else spool; owns the spool parts."""

    def __init__(
        self,
        *,
        name: str,
        sink: StreamSink,
        stats: CollectorStats,
        acc: Accumulator,
        spool: SpoolStore | None,
        replay_interval: float,
        jitter: Callable[[], float],
        wall_ms: Callable[[], int],
    ) -> None:
        self._name = name
        self.sink = sink
        self._stats = stats
        self._acc = acc
        self._wall_ms = wall_ms
        self.stream_stats = StreamStats()
        self._trim_logged: float | None = None
        self.health = Health(stats, name)
        self.spool = None if spool is None else SpoolSink(spool, stats, name)
        self.replayer: SpoolReplayer | None = None
        if spool is not None:
            self.replayer = SpoolReplayer(
                spool,
                self._append_spooled,
                stats,
                health=self.health,
                interval=float(replay_interval),
                wait=wait_event,
                jitter=jitter,
            )
            self.health.on_recover = self.replayer.kick
        self.health.on_outage = self._on_outage
        self._jitter = jitter
        self._outage = asyncio.Event()
        self._prober: asyncio.Task[None] | None = None

    # -- the Delivery protocol --------------------------------------------------------------
    def start(self) -> None:
        if self.replayer is not None:
            self.replayer.start()
        if self._prober is None:
            self._prober = asyncio.get_running_loop().create_task(
                self._probe_loop(), name="asyncexp-stream-probe"
            )

    async def release(self) -> None:
        prober, self._prober = self._prober, None
        if prober is not None:
            prober.cancel()
            await asyncio.gather(prober, return_exceptions=True)
        if self.replayer is not None:
            await self.replayer.aclose()
        await self.sink.aclose()

    def _on_outage(self) -> None:
        if self.replayer is not None:
            self.replayer.kick()  # probes with the oldest spooled chunk
        self._outage.set()

    async def _probe_loop(self) -> None:
        """In outage mode, ``PING`` the log with backoff: the spool re-sender's probes need a
        spooled chunk, and the spool may be empty (another process sharing it appended
        them, or it cannot be written); the first answer ends outage mode."""
        health = self.health
        while True:
            await self._outage.wait()
            self._outage.clear()
            attempt = 0
            while health.outage and not health.abandoning:
                await asyncio.sleep(health.probe_delay(attempt, self._jitter()))
                attempt += 1
                if not health.outage:
                    break
                try:
                    await self.sink.ping()
                except StoreUnavailableError:
                    continue
                health.record(True)  # on_recover kicks the re-sender

    def diverting(self) -> bool:
        return self.spool is not None and self.health.outage

    def backlogged(self) -> bool:
        if self.spool is None:
            return False
        store = self.spool.store
        used = store.cached_bytes_used()
        return used is not None and used * 4 > store.max_bytes

    def abandon(self) -> None:
        self.health.abandon()

    async def wait_idle(self) -> None:
        if self.spool is not None:
            await self.spool.wait_idle()

    async def drain_spool(self, timeout: float, stop: asyncio.Event) -> None:
        replayer = self.replayer
        if replayer is None or timeout <= 0 or self.health.outage or self.health.abandoning:
            return
        if not await replayer.drain(timeout, stop):
            logger.info(
                "%s: closing with spooled chunks left (the stream failed, or the close "
                "deadline came first); they are appended at the next start",
                self._name,
            )

    async def deliver(self, lane: LaneKey, items: list[Any]) -> None:
        entry = self._entry(lane, items)
        if entry is None:
            return
        health = self.health
        if health.interrupt.is_set() and self.spool is not None:
            await self._to_spool(entry, None)
            return
        ok = await self._append(entry)
        if ok:
            self._stats.delivered += entry.count
            return
        await self._to_spool(entry, None)

    async def spill(self, lane: LaneKey, items: list[Any]) -> None:
        entry = self._entry(lane, items)
        if entry is not None:
            await self._to_spool(entry, DROP_SHUTDOWN_TIMEOUT)

    def spill_now(self, lane: LaneKey, items: list[Any]) -> bool:
        if self.spool is None:
            return False
        entry = self._entry(lane, items)
        if entry is not None:
            self.spool.write_now(self._batch(entry))
            if self.replayer is not None and not self.health.outage:
                self.replayer.kick()
        return True

    # -- helpers ----------------------------------------------------------------------------
    async def _append(self, entry: StreamEntry) -> bool:
        """One append attempt, recorded in ``health`` (no in-memory retry: the spool is it)."""
        stats = self._stats
        stats.requests += 1
        try:
            trimmed = await self.sink.append([entry])
        except StoreUnavailableError as exc:
            stats.failed_requests += 1
            stats.last_error = str(exc)
            self.stream_stats.append_failures += 1
            self.health.record(False, str(exc))
            return False
        self.health.record(True)
        self._appended(entry, trimmed)
        return True

    def _appended(self, entry: StreamEntry, trimmed: int) -> None:
        ss = self.stream_stats
        ss.appended_entries += 1
        ss.appended_items += entry.count
        if trimmed:
            ss.trimmed_entries += trimmed
            now = time.monotonic()
            if self._trim_logged is not None and now - self._trim_logged < _TRIM_LOG_INTERVAL:
                return
            self._trim_logged = now
            logger.warning(
                "%s: the stream cap (MAXLEN ~) removed entries of %s while appending; "
                "%d in all (relays behind? entries they had not shipped are lost; "
                "logged once per %gs)",
                self._name,
                self.sink.describe(),
                ss.trimmed_entries,
                _TRIM_LOG_INTERVAL,
            )

    async def _append_spooled(
        self, url: str, body: bytes, headers: dict[str, str], check_code: bool
    ) -> Attempt:
        """The spool re-sender's ``post``: append a spooled chunk to the stream."""
        try:
            count = int(headers.get("n", "0"))
            created = int(headers.get("t", "0"))
        except ValueError:
            count, created = 0, 0
        destination = ANALYSYS_DESTINATION if url == _SPOOLED_ANALYSYS else url
        entry = StreamEntry(destination, body, count, created or self._wall_ms())
        stats = self._stats
        stats.requests += 1
        try:
            trimmed = await self.sink.append([entry])
        except StoreUnavailableError as exc:
            stats.failed_requests += 1
            stats.last_error = str(exc)
            self.stream_stats.append_failures += 1
            return Attempt(False, True, "stream", None, str(exc))
        self._appended(entry, trimmed)
        return Attempt(ok=True)

    @staticmethod
    def _batch(entry: StreamEntry) -> SpoolBatch:
        headers = {"n": str(entry.count), "t": str(entry.created_ms)}
        url = entry.destination
        if url == ANALYSYS_DESTINATION:
            url = _SPOOLED_ANALYSYS
        return SpoolBatch(url, headers, entry.body, entry.count, False)

    async def _to_spool(self, entry: StreamEntry, no_spool_reason: str | None) -> None:
        if self.spool is None:
            self._stats.drop(no_spool_reason or DROP_RETRIES_EXHAUSTED, entry.count)
            return
        await self.spool.write(self._batch(entry))
        health = self.health
        if self.replayer is not None and not (health.outage or health.abandoning):
            self.replayer.kick()

    def _entry(self, lane: LaneKey, items: list[Any]) -> StreamEntry | None:
        records = lane == _RECORDS

        def encode(chunk: Sequence[Any]) -> bytes:
            raw = orjson.dumps(chunk if records else build_event_batch(chunk))
            self._acc.observe(len(raw), len(chunk))
            return raw

        good = items
        try:
            body = encode(items)
        except TypeError:
            good = []
            for item in items:
                try:
                    encode([item])
                except TypeError as exc:
                    self._stats.last_error = f"unencodable item: {exc}"
                else:
                    good.append(item)
            bad = len(items) - len(good)
            self._stats.drop(DROP_UNENCODABLE, bad)
            logger.warning("%s: dropped %d item(s) that cannot be serialised", self._name, bad)
            if not good:
                return None
            body = encode(good)
        destination = ANALYSYS_DESTINATION if records else str(lane[0])
        return StreamEntry(destination, body, len(good), self._wall_ms())


class StreamOptions(TypedDict, total=False):
    """The keywords of :class:`StreamCollector` other than the sink (defaults there)."""

    optimizely_events_url: str | None
    batch_size: int
    max_request_size: int
    max_interval: float
    max_concurrency: int
    memory_budget_mib: float
    max_queue_size: int | None
    close_timeout: float
    spool: SpoolSetting
    spool_max_bytes: int
    spool_on_full: OnFull
    replay_interval: float
    probe_base: float
    probe_max: float
    clock: Clock
    wait: WaitFn
    jitter: Callable[[], float]
    wall_clock_ms: Callable[[], int]
    log_interval: float


class StreamCollector(QueueCollector):
    """A collector that appends chunks to a log through ``sink`` (see the module docstring).

    Defaults suit a log next to the workers: a chunk of up to ``max_request_size``
    items is appended when ``batch_size`` wait or the oldest waited ``max_interval``
    seconds. ``spool`` (default on, the same default directory scheme as the HTTP
    collectors, named after the sink) takes what the log cannot.
    """

    def __init__(
        self,
        sink: StreamSink,
        *,
        optimizely_events_url: str | None = None,
        batch_size: int = 100,
        max_request_size: int = 500,
        max_interval: float = 1.0,
        max_concurrency: int = 4,
        memory_budget_mib: float = DEFAULT_MEMORY_BUDGET_MIB,
        max_queue_size: int | None = None,
        close_timeout: float = 10.0,
        spool: SpoolSetting = True,
        spool_max_bytes: int = 256 << 20,
        spool_on_full: OnFull = "drop_new",
        replay_interval: float = 30.0,
        probe_base: float = 0.5,
        probe_max: float = 10.0,
        clock: Clock = time.monotonic,
        wait: WaitFn = wait_event,
        jitter: Callable[[], float] = random.random,
        wall_clock_ms: Callable[[], int] = lambda: time.time_ns() // 1_000_000,
        log_interval: float = 10.0,
    ) -> None:
        super().__init__(
            batch_size=batch_size,
            max_request_size=max_request_size,
            max_interval=max_interval,
            max_concurrency=max_concurrency,
            memory_budget_mib=memory_budget_mib,
            max_queue_size=max_queue_size,
            close_timeout=close_timeout,
            clock=clock,
            wait=wait,
            log_interval=log_interval,
        )
        if optimizely_events_url is not None and (
            not isinstance(optimizely_events_url, str)
            or not optimizely_events_url.startswith(("http://", "https://"))
        ):
            raise ConfigError("optimizely_events_url: must be an http(s) URL")
        self._record_lane = _RECORDS
        self._events_url = optimizely_events_url
        store = resolve_spool(spool, f"stream:{sink.describe()}", spool_max_bytes, spool_on_full)
        self._stream = StreamDelivery(
            name=type(self).__name__,
            sink=sink,
            stats=self._stats,
            acc=self._acc,
            spool=store,
            replay_interval=replay_interval,
            jitter=jitter,
            wall_ms=wall_clock_ms,
        )
        self._stream.health.probe_base = float(probe_base)
        self._stream.health.probe_max = float(probe_max)
        self._delivery = self._stream
        self._has_disk = store is not None

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._stream.sink.describe()!r})"

    @property
    def sink(self) -> StreamSink:
        return self._stream.sink

    @property
    def stream_stats(self) -> StreamStats:
        return self._stream.stream_stats

    @property
    def spool(self) -> SpoolStore | None:
        sink = self._stream.spool
        return None if sink is None else sink.store

    @property
    def replayer(self) -> SpoolReplayer | None:
        return self._stream.replayer

    @property
    def health(self) -> Health:
        return self._stream.health

    async def start(self, transport: HttpTransport | None = None) -> None:
        """Open the sink, then start the sender (``transport`` is not used)."""
        await self._stream.sink.start()
        await super().start(transport)

    def _needs_transport(self) -> bool:
        return False

    def _lane_of(self, item: Any) -> LaneKey:
        if type(item) is dict:
            return _RECORDS
        if isinstance(item, UserEvent):
            ctx = item.context
            return (self._events_url or ctx.endpoint, ctx.revision, ctx.project_id)
        raise ArgumentTypeError(
            f"submit: expected an Analysys record dict or a UserEvent, got {type(item).__name__}"
        )


class RedisStreamCollector(StreamCollector):
    """A :class:`StreamCollector` over a Redis stream (the ``asyncexp[redis]`` extra).

    ``redis``: a URL (a :class:`RedisConnection` of its own is made, with
    ``op_timeout``) or a shared :class:`RedisConnection`. ``maxlen``: the
    approximate cap (``MAXLEN ~``), ``None`` for none. The other keywords are
    :class:`StreamCollector`'s.
    """

    def __init__(
        self,
        redis: str | RedisConnection,
        *,
        stream: str = DEFAULT_STREAM,
        maxlen: int | None = 1_000_000,
        op_timeout: float = 1.0,
        **options: Unpack[StreamOptions],
    ) -> None:
        if isinstance(redis, str):
            connection = RedisConnection(redis, op_timeout=op_timeout, connect_timeout=op_timeout)
        elif isinstance(redis, RedisConnection):
            connection = redis
        else:
            raise ConfigError(
                f"redis: must be a URL or a RedisConnection, got {type(redis).__name__}"
            )
        super().__init__(RedisStreamSink(connection, stream, maxlen=maxlen), **options)

    def __repr__(self) -> str:
        sink = self.sink
        assert isinstance(sink, RedisStreamSink)
        return f"RedisStreamCollector({safe_url(sink.connection.url)!r}, stream={sink.stream!r})"
