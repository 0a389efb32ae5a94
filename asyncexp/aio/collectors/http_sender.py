"""``HttpDelivery`` (HTTP delivery with its spool) and ``HttpSender`` (the base of both
HTTP collectors, which composes it with the queue machinery).

Two kinds of item travel over one :class:`~asyncexp.aio.http.HttpTransport`:

* Analysys records to ``{url}/up`` (codec in :mod:`.wire`); one lane;
* Optimizely user events to ``optimizely_events_url`` if given, else the
  endpoint of the event's datafile region; one lane per endpoint and
  ``batch_key``, so a request never mixes revisions or projects.

A chunk is encoded once, then posted; retryable failures (connection errors,
timeouts, 5xx, 429) are retried with the :class:`~asyncexp.aio.http.RetryPolicy`
backoff. The rules that keep nothing lost:

* retries ran out: the chunk goes to the disk spool (:mod:`.spool_writer`);
* outage mode (:mod:`.health`: ``OUTAGE_AFTER`` failed requests in a row):
  the sends stop retrying and spool what they hold, new chunks are spooled
  without a request, and the spool re-sender probes with backoff and drains
  the spool once the destination answers;
* HTTP 2xx without ``{"code":200}``: a failure, but the server may have stored
  the records, so it is not retried in memory: the chunk is spooled marked
  once, and re-sent at most once more (:data:`~.replay.MAX_UNCONFIRMED_COPIES`);
* close deadline passed or close cancelled: every send stops at its next step
  (a request in flight is abandoned, a retry sleep cut short) and spools;
* refused (other 4xx, an Analysys error code): dropped as ``rejected``; an item
  that cannot be serialised is dropped alone (``unencodable``).

With ``spool=False`` the chunks that would be spooled are dropped
(``retries_exhausted``), and so is what does not fit the memory budget
(``queue_full``).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import gzip
import logging
import random
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import orjson

from asyncexp.aio.checks import check_choice, check_http_url, check_number
from asyncexp.aio.collectors.base import (
    DROP_REJECTED,
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
from asyncexp.aio.collectors.replay import UNCONFIRMED, SpoolReplayer
from asyncexp.aio.collectors.spool import (
    OnFull,
    SpoolBatch,
    SpoolSetting,
    SpoolStore,
    resolve_spool,
)
from asyncexp.aio.collectors.spool_writer import SpoolSink
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
from asyncexp.core.flags.events import UserEvent, build_event_batch
from asyncexp.errors import ArgumentTypeError, ConfigError

__all__ = ["ANALYSYS_LANE", "HttpDelivery", "HttpSender", "Sleep"]

logger = logging.getLogger("asyncexp.aio.collectors")

ANALYSYS_LANE: LaneKey = ("analysys",)
Sleep = Callable[[float], Awaitable[Any]]
_Request = tuple[str, dict[str, str], bool, bytes | None, int]


_COMPRESS_OFF_LOOP = 256 << 10
"""JSON bodies from this size are compressed in the executor (about 0.2 ms and up at
level 1). Below it the loop compresses: a 100-record body (~26 KB) takes ~20 µs, less
than the executor round trip and the GIL hand-offs it costs."""


def _identity(raw: bytes) -> bytes:
    return raw


class HttpDelivery:
    """Posting chunks, retrying, spooling; owns the spool sink, health and re-sender."""

    def __init__(
        self,
        *,
        name: str,
        stats: CollectorStats,
        acc: Accumulator,
        transport: Callable[[], HttpTransport | None],
        up_url: str | None,
        events_url: str | None,
        encoding: Encoding,
        compress_level: int,
        request_timeout: float | None,
        retry: RetryPolicy,
        spool: SpoolStore | None,
        replay_interval: float,
        sleep: Sleep,
        jitter: Callable[[], float],
        wall_clock: Callable[[], float],
    ) -> None:
        self._name = name
        self._stats = stats
        self._acc = acc
        self._transport = transport
        self._up_url = up_url
        self._events_url = events_url
        self._encoding: Encoding = encoding
        self._level = compress_level
        self._headers = analysys_headers(encoding)
        self._timeout = request_timeout
        self._retry = retry
        self._sleep = sleep
        self._jitter = jitter
        self._wall_clock = wall_clock
        self.health = Health(stats, name)
        self.sink = None if spool is None else SpoolSink(spool, stats, name)
        if self.sink is not None:
            self.sink.on_written = self._after_spill
        self.replayer: SpoolReplayer | None = None
        if spool is not None:
            self.replayer = SpoolReplayer(
                spool,
                self._post,
                stats,
                health=self.health,
                interval=float(replay_interval),
                wait=wait_event,  # real time: the injected ``wait`` drives the queue only
                jitter=jitter,
            )
            self.health.on_recover = self.replayer.kick
            self.health.on_outage = self.replayer.kick
        self.on_log_event: Callable[[str, Sequence[UserEvent]], None] | None = None

    # -- the Delivery protocol --------------------------------------------------------------
    def start(self) -> None:
        if self.replayer is not None:
            self.replayer.start()

    async def drain_spool(self, timeout: float, stop: asyncio.Event) -> None:
        replayer = self.replayer
        if replayer is None or timeout <= 0 or self.health.outage or self.health.abandoning:
            return
        if not await replayer.drain(timeout, stop):
            logger.info(
                "%s: closing with spooled records left (the destination failed, or the close "
                "deadline came first); they are re-sent at the next start",
                self._name,
            )

    async def release(self) -> None:
        if self.replayer is not None:
            await self.replayer.aclose()
        if self.sink is not None:
            await self.sink.aclose()

    def diverting(self) -> bool:
        health = self.health
        return self.sink is not None and health.outage and not health.want_probe

    def backlogged(self) -> bool:
        if self.sink is None:
            return False
        store = self.sink.store
        used = store.cached_bytes_used()
        return used is not None and used * 4 > store.max_bytes

    def abandon(self) -> None:
        self.health.abandon()

    async def wait_idle(self) -> None:
        if self.sink is not None:
            await self.sink.wait_idle()

    async def spill(self, lane: LaneKey, items: list[Any]) -> None:
        url, headers, check_code, body, sent = self._request_for(lane, items)
        if body is not None:
            await self._to_spool(url, headers, body, sent, check_code, 0, DROP_SHUTDOWN_TIMEOUT)

    def spill_now(self, lane: LaneKey, items: list[Any]) -> bool:
        if self.sink is None:
            return False
        try:  # the JSON here (it holds the GIL anyway); compressing and writing in the sink
            if lane == ANALYSYS_LANE:
                assert self._up_url is not None
                url, headers, check_code = self._up_url, self._headers, True
                raw = orjson.dumps(items)
                finish = self._finish_records
            else:
                url, headers, check_code = lane[0], OPTIMIZELY_HEADERS, False
                raw = orjson.dumps(build_event_batch(items))
                finish = _identity
        except TypeError:  # an item that cannot be serialised: the careful path, per item
            url, headers, check_code, body, sent = self._request_for(lane, items)
            if body is not None:
                self.sink.write_now(SpoolBatch(url, dict(headers), body, sent, check_code))
                self._after_spill()
            return True
        self._acc.observe(len(raw), len(items))
        self.sink.write_soon(
            SpoolBatch(url, dict(headers), b"", len(items), check_code), raw, finish
        )
        return True

    def _after_spill(self) -> None:
        if self.replayer is not None and not self.health.outage:
            self.replayer.kick()

    def _finish_records(self, raw: bytes) -> bytes:
        """The Analysys body from the JSON array (thread-safe: no state touched)."""
        if self._encoding == "json":
            return raw
        return base64.b64encode(gzip.compress(raw, compresslevel=self._level, mtime=0))

    async def deliver(self, lane: LaneKey, items: list[Any]) -> None:
        url, headers, check_code, body, sent = await self._request_off_loop(lane, items)
        if body is None:
            return
        if lane != ANALYSYS_LANE and self.on_log_event is not None:
            try:
                self.on_log_event(url, items)
            except Exception:
                logger.exception("on_log_event hook raised")
        health = self.health
        # outage mode with an empty spool: this chunk is the probe (one attempt)
        probe = health.outage and health.want_probe and not health.abandoning
        if probe:
            health.want_probe = False
        retry = 0
        while True:
            if health.interrupt.is_set() and self.sink is not None and not probe:
                await self._to_spool(url, headers, body, sent, check_code, 0, None)
                return
            probe = False
            outcome = await self._interruptible_post(url, body, headers, check_code)
            if outcome is None:  # abandoned by the close while in flight
                await self._to_spool(url, headers, body, sent, check_code, 0, DROP_SHUTDOWN_TIMEOUT)
                return
            health.record(outcome.ok, outcome.detail)
            if outcome.ok:
                self._stats.delivered += sent
                return
            if outcome.reason == UNCONFIRMED and self.sink is not None:
                logger.warning(
                    "%s: %s answered 2xx without success (%s); spooling %d item(s) for one "
                    "more try",
                    self._name,
                    safe_url(url),
                    outcome.detail,
                    sent,
                )
                await self._to_spool(url, headers, body, sent, check_code, 1, None)
                return
            if not outcome.retryable:
                self._stats.drop(DROP_REJECTED, sent)
                logger.warning(
                    "%s: dropped a batch of %d item(s) for %s (rejected: %s)",
                    self._name,
                    sent,
                    safe_url(url),
                    outcome.detail,
                )
                return
            if retry >= self._retry.max_retries:
                logger.warning(
                    "%s: %d item(s) for %s not delivered after retries (%s)",
                    self._name,
                    sent,
                    safe_url(url),
                    outcome.detail,
                )
                await self._to_spool(url, headers, body, sent, check_code, 0, None)
                return
            if health.interrupt.is_set() and self.sink is not None:
                continue  # outage mode or abandoned: spool at the top of the loop
            delay = self._retry.delay(retry, self._jitter(), outcome.retry_after)
            self._stats.retried += 1
            logger.info("%s: retrying in %.2fs after %s", self._name, delay, outcome.detail)
            await self._interruptible(self._sleep(delay))
            retry += 1

    # -- helpers ----------------------------------------------------------------------------
    async def _interruptible(self, work: Awaitable[Any]) -> tuple[bool, Any]:
        """Run ``work`` until done or ``health.interrupt`` is set; ``(finished, result)``."""
        task = asyncio.ensure_future(work)
        stop = asyncio.ensure_future(self.health.interrupt.wait())
        try:
            await asyncio.wait([task, stop], return_when=asyncio.FIRST_COMPLETED)
        finally:
            stop.cancel()
            if not task.done():
                task.cancel()
                with contextlib.suppress(BaseException):
                    await task
        if task.cancelled():
            return False, None
        return True, task.result()

    async def _interruptible_post(
        self, url: str, body: bytes, headers: dict[str, str], check_code: bool
    ) -> Attempt | None:
        """One attempt, abandoned (``None``) if a close gives up waiting meanwhile.

        The request runs in the calling send task itself (no helper task: two loop
        iterations fewer per request); :meth:`Health.abandon` cancels the tasks
        registered in ``health.posting``, and the cancellation it caused is taken
        back here (``uncancel``) so the send goes on to spool what it holds.
        """
        health = self.health
        if health.abandoning:
            return None
        task = asyncio.current_task()
        assert task is not None
        health.posting.add(task)
        try:
            return await self._post(url, body, headers, check_code)
        except asyncio.CancelledError:
            if health.abandoning and task.cancelling() <= health.cancels_sent.get(task, 0):
                while task.cancelling():
                    task.uncancel()
                return None
            raise
        finally:
            health.posting.discard(task)
            health.cancels_sent.pop(task, None)

    async def _to_spool(
        self,
        url: str,
        headers: dict[str, str],
        body: bytes,
        count: int,
        check_code: bool,
        unconfirmed: int,
        no_spool_reason: str | None,
    ) -> None:
        if self.sink is None:
            self._stats.drop(no_spool_reason or DROP_RETRIES_EXHAUSTED, count)
            return
        batch = SpoolBatch(url, dict(headers), body, count, check_code, unconfirmed)
        await self.sink.write(batch)
        health = self.health
        if self.replayer is not None and not (health.outage or health.abandoning or unconfirmed):
            self.replayer.kick()

    async def _request_off_loop(self, lane: LaneKey, items: list[Any]) -> _Request:
        """``_request_for``, with a large gzip body compressed in the loop's executor
        (zlib releases the GIL: the loop keeps serving producers meanwhile)."""
        if lane != ANALYSYS_LANE or self._encoding != "gzip":
            return self._request_for(lane, items)
        try:
            raw = orjson.dumps(items)
        except TypeError:  # the careful path, per item
            return self._request_for(lane, items)
        self._acc.observe(len(raw), len(items))
        if len(raw) < _COMPRESS_OFF_LOOP:
            body = self._finish_records(raw)
        else:
            loop = asyncio.get_running_loop()
            body = await loop.run_in_executor(None, self._finish_records, raw)
        assert self._up_url is not None
        return self._up_url, self._headers, True, body, len(items)

    def _request_for(self, lane: LaneKey, items: list[Any]) -> _Request:
        """``(url, headers, check_code, body, items in body)`` for a chunk of one lane."""
        if lane == ANALYSYS_LANE:
            assert self._up_url is not None
            body, sent = self._encode(items, self._encode_records)
            return self._up_url, self._headers, True, body, sent
        body, sent = self._encode(items, self._encode_events)
        return lane[0], OPTIMIZELY_HEADERS, False, body, sent

    def _encode_records(self, items: Sequence[Any]) -> bytes:
        raw = orjson.dumps(items)
        self._acc.observe(len(raw), len(items))
        return self._finish_records(raw)

    def _encode_events(self, items: Sequence[Any]) -> bytes:
        raw = orjson.dumps(build_event_batch(items))
        self._acc.observe(len(raw), len(items))
        return raw

    def _encode(
        self, items: list[Any], encode: Callable[[Sequence[Any]], bytes]
    ) -> tuple[bytes | None, int]:
        try:
            return encode(items), len(items)
        except TypeError:
            pass
        good: list[Any] = []
        for item in items:
            try:
                encode([item])
            except TypeError as exc:
                self._stats.last_error = f"unencodable item: {exc}"
            else:
                good.append(item)
        bad = len(items) - len(good)
        self._stats.drop(DROP_UNENCODABLE, bad)
        logger.warning("%s: dropped %d item(s) that cannot be serialised to JSON", self._name, bad)
        if not good:
            return None, 0
        return encode(good), len(good)

    async def _post(
        self, url: str, body: bytes, headers: dict[str, str], check_code: bool
    ) -> Attempt:
        stats = self._stats
        stats.requests += 1
        transport = self._transport()
        assert transport is not None
        try:
            response = await transport.post(url, body, headers=headers, timeout=self._timeout)
        except TransportError as exc:
            outcome = Attempt(False, True, "transport", None, str(exc))
        else:
            outcome = attempt_from_status(response, now=self._wall_clock)
            if outcome.ok and check_code:
                code = analysys_response_code(response.body)
                if code != 200:
                    retryable = code is None or code >= 500
                    outcome = Attempt(
                        False,
                        retryable,
                        UNCONFIRMED if retryable else "analysys_code",
                        None,
                        f"response code {code} (HTTP {response.status})",
                    )
        if not outcome.ok:
            stats.failed_requests += 1
            stats.last_error = outcome.detail
        return outcome


class HttpSender(QueueCollector):
    """Base of ``RealtimeCollector`` and ``BatchCollector`` (see the module docstring)."""

    def __init__(
        self,
        url: str | None,
        *,
        batch_size: int,
        max_request_size: int,
        max_interval: float,
        max_concurrency: int,
        memory_budget_mib: float = DEFAULT_MEMORY_BUDGET_MIB,
        max_queue_size: int | None = None,
        request_timeout: float | None = 10.0,
        encoding: Encoding = "gzip",
        compress_level: int = 1,
        optimizely_events_url: str | None = None,
        retry: RetryPolicy | None = None,
        close_timeout: float = 10.0,
        spool: SpoolSetting = True,
        spool_max_bytes: int = 256 << 20,
        spool_on_full: OnFull = "drop_new",
        replay_interval: float = 30.0,
        probe_base: float = 0.5,
        probe_max: float = 10.0,
        clock: Clock = time.monotonic,
        wait: WaitFn = wait_event,
        sleep: Sleep = asyncio.sleep,
        jitter: Callable[[], float] = random.random,
        wall_clock: Callable[[], float] = time.time,
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
        if url is not None and (
            not isinstance(url, str) or not url.startswith(("http://", "https://"))
        ):
            raise ConfigError(f"url: must be an http(s) URL, got {safe_url(str(url))!r}")
        if encoding not in ("gzip", "json"):
            raise ConfigError(f"encoding: must be 'gzip' or 'json', got {encoding!r}")
        if request_timeout is not None and not request_timeout > 0:
            raise ConfigError(f"request_timeout: must be > 0 or None, got {request_timeout!r}")
        if isinstance(replay_interval, bool) or not isinstance(replay_interval, int | float):
            raise ConfigError(f"replay_interval: must be a number, got {replay_interval!r}")
        check_number("replay_interval", replay_interval)
        check_http_url("optimizely_events_url", optimizely_events_url)
        check_number("compress_level", compress_level, integer=True, inclusive=True, maximum=9)
        check_number("spool_max_bytes", spool_max_bytes, integer=True, minimum=1, inclusive=True)
        check_choice("spool_on_full", spool_on_full, ("drop_new", "drop_oldest"))
        check_number("probe_base", probe_base)
        check_number("probe_max", probe_max, minimum=probe_base, inclusive=True)
        check_number("log_interval", log_interval, inclusive=True)
        if retry is not None and not isinstance(retry, RetryPolicy):
            raise ConfigError(f"retry: must be a RetryPolicy or None, got {type(retry).__name__}")
        self._up_url = None if url is None else analysys_up_url(url)
        self._record_lane = None if url is None else ANALYSYS_LANE
        self._events_url = optimizely_events_url
        store = resolve_spool(spool, url or optimizely_events_url, spool_max_bytes, spool_on_full)
        self._http = HttpDelivery(
            name=type(self).__name__,
            stats=self._stats,
            acc=self._acc,
            transport=lambda: self._transport,
            up_url=self._up_url,
            events_url=optimizely_events_url,
            encoding=encoding,
            compress_level=compress_level,
            request_timeout=request_timeout,
            retry=retry or RetryPolicy(),
            spool=store,
            replay_interval=replay_interval,
            sleep=sleep,
            jitter=jitter,
            wall_clock=wall_clock,
        )
        self._http.health.probe_base = float(probe_base)
        self._http.health.probe_max = float(probe_max)
        self._delivery = self._http
        self._has_disk = store is not None
        self._last_context: object = None
        self._last_lane: LaneKey = ()

    def __repr__(self) -> str:
        url = self._up_url or self._events_url
        return f"{type(self).__name__}({safe_url(url) if url else None!r})"

    @property
    def accepts_records(self) -> bool:
        """True when built with a url: Analysys records have somewhere to go."""
        return self._up_url is not None

    @property
    def events_url(self) -> str | None:
        """``optimizely_events_url`` (None: each event goes to its datafile's endpoint)."""
        return self._events_url

    @property
    def spool(self) -> SpoolStore | None:
        """The disk spool, or ``None`` when it was turned off."""
        sink = self._http.sink
        return None if sink is None else sink.store

    @property
    def replayer(self) -> SpoolReplayer | None:
        return self._http.replayer

    @property
    def health(self) -> Health:
        """Outage mode and consecutive failures (see :mod:`.health`)."""
        return self._http.health

    @property
    def on_log_event(self) -> Callable[[str, Sequence[UserEvent]], None] | None:
        """Called with each Optimizely batch just before it is sent (the client's LOG_EVENT
        notification); it must not raise into the sender."""
        return self._http.on_log_event

    @on_log_event.setter
    def on_log_event(self, hook: Callable[[str, Sequence[UserEvent]], None] | None) -> None:
        self._http.on_log_event = hook

    def _lane_of(self, item: Any) -> LaneKey:
        if type(item) is dict:
            if self._up_url is None:
                raise ConfigError(f"{type(self).__name__} has no url for Analysys records")
            return ANALYSYS_LANE
        if type(item) is UserEvent or isinstance(item, UserEvent):
            ctx = item.context
            if ctx is self._last_context:  # one context per datafile revision: memoised
                return self._last_lane
            lane = (self._events_url or ctx.endpoint, ctx.revision, ctx.project_id)
            self._last_context, self._last_lane = ctx, lane  # EventContext is frozen
            return lane
        raise ArgumentTypeError(
            f"submit: expected an Analysys record dict or a UserEvent, got {type(item).__name__}"
        )
