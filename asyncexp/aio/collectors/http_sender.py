"""``HttpSender``: the queue machinery plus HTTP delivery, shared by both HTTP collectors.

Two kinds of item travel over one :class:`~asyncexp.aio.http.HttpTransport`:

* Analysys records to ``{url}/up`` (codec in :mod:`.wire`); one lane;
* Optimizely user events to ``optimizely_events_url`` if given, else the
  endpoint of the event's datafile region; one lane per endpoint and
  ``batch_key``, so a request never mixes revisions or projects.

A batch is encoded once, then posted with :func:`~asyncexp.aio.http.call_with_retries`.
An item that cannot be serialised is dropped alone (``unencodable``); the rest
of its batch is still sent. A refused batch is dropped as ``rejected``. One
whose retries ran out goes to the disk spool (:mod:`.spool_writer`), or with
the spool off is dropped as ``retries_exhausted``; each with one warning line.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from asyncexp.aio.collectors.base import DROP_REJECTED, DROP_RETRIES_EXHAUSTED, DROP_UNENCODABLE
from asyncexp.aio.collectors.pipeline import Clock, LaneKey, QueueCollector, WaitFn, wait_event
from asyncexp.aio.collectors.replay import SpoolReplayer
from asyncexp.aio.collectors.spool import OnFull, SpoolSetting, SpoolStore, resolve_spool
from asyncexp.aio.collectors.spool_writer import SpoolWriter
from asyncexp.aio.collectors.wire import (
    OPTIMIZELY_HEADERS,
    Encoding,
    analysys_headers,
    analysys_response_code,
    analysys_up_url,
    encode_analysys,
    encode_optimizely,
)
from asyncexp.aio.http import (
    Attempt,
    RetryPolicy,
    TransportError,
    attempt_from_status,
    call_with_retries,
)
from asyncexp.core.flags.events import UserEvent
from asyncexp.errors import ArgumentTypeError, ConfigError

__all__ = ["ANALYSYS_LANE", "HttpSender", "Sleep"]

logger = logging.getLogger("asyncexp.aio.collectors")

ANALYSYS_LANE: LaneKey = ("analysys",)
Sleep = Callable[[float], Awaitable[Any]]


class HttpSender(SpoolWriter, QueueCollector):
    """Base of ``RealtimeCollector`` and ``BatchCollector`` (see the module docstring)."""

    def __init__(
        self,
        url: str | None,
        *,
        batch_size: int,
        max_request_size: int,
        max_interval: float,
        max_queue_size: int,
        max_concurrency: int,
        request_timeout: float | None = 10.0,
        encoding: Encoding = "gzip",
        compress_level: int = 1,
        optimizely_events_url: str | None = None,
        retry: RetryPolicy | None = None,
        close_timeout: float = 10.0,
        spool: SpoolSetting = True,
        spool_max_bytes: int = 64 << 20,
        spool_on_full: OnFull = "drop_new",
        replay_interval: float = 30.0,
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
            max_queue_size=max_queue_size,
            max_concurrency=max_concurrency,
            close_timeout=close_timeout,
            clock=clock,
            wait=wait,
            log_interval=log_interval,
        )
        if url is not None and (
            not isinstance(url, str) or not url.startswith(("http://", "https://"))
        ):
            raise ConfigError(f"url: must be an http(s) URL, got {url!r}")
        if encoding not in ("gzip", "json"):
            raise ConfigError(f"encoding: must be 'gzip' or 'json', got {encoding!r}")
        if request_timeout is not None and not request_timeout > 0:
            raise ConfigError(f"request_timeout: must be > 0 or None, got {request_timeout!r}")
        if isinstance(replay_interval, bool) or not isinstance(replay_interval, int | float):
            raise ConfigError(f"replay_interval: must be a number, got {replay_interval!r}")
        self._up_url = None if url is None else analysys_up_url(url)
        self._record_lane = None if url is None else ANALYSYS_LANE
        self._encoding: Encoding = encoding
        self._level = compress_level
        self._headers = analysys_headers(encoding)
        self._events_url = optimizely_events_url
        self._timeout = request_timeout
        self._retry = retry or RetryPolicy()
        self._sleep = sleep
        self._jitter = jitter
        self._wall_clock = wall_clock
        self._spool = resolve_spool(
            spool, url or optimizely_events_url, spool_max_bytes, spool_on_full
        )
        self._replayer: SpoolReplayer | None = None
        if self._spool is not None:
            self._replayer = SpoolReplayer(
                self._spool,
                self._post,
                self._stats,
                retry=self._retry,
                interval=float(replay_interval),
                wait=wait_event,  # real time: the injected ``wait`` drives the queue only
                sleep=sleep,
                jitter=jitter,
            )
        # Called with each Optimizely batch just before it is sent (the client's
        # LOG_EVENT notification); it must not raise into the sender.
        self.on_log_event: Callable[[str, Sequence[UserEvent]], None] | None = None

    @property
    def spool(self) -> SpoolStore | None:
        """The disk spool, or ``None`` when it was turned off."""
        return self._spool

    @property
    def replayer(self) -> SpoolReplayer | None:
        return self._replayer

    def _on_start(self) -> None:
        if self._replayer is not None:
            self._replayer.start()

    async def _release(self) -> None:
        if self._replayer is not None:
            await self._replayer.aclose()

    def _lane_of(self, item: Any) -> LaneKey:
        if type(item) is dict:
            if self._up_url is None:
                raise ConfigError(f"{type(self).__name__} has no url for Analysys records")
            return ANALYSYS_LANE
        if isinstance(item, UserEvent):
            ctx = item.context
            return (self._events_url or ctx.endpoint, ctx.revision, ctx.project_id)
        raise ArgumentTypeError(
            f"submit: expected an Analysys record dict or a UserEvent, got {type(item).__name__}"
        )

    def _request_for(
        self, lane: LaneKey, items: list[Any]
    ) -> tuple[str, dict[str, str], bool, bytes | None, int]:
        """``(url, headers, check_code, body, items in body)`` for a batch of one lane."""
        if lane == ANALYSYS_LANE:
            assert self._up_url is not None
            body, sent = self._encode(items, self._encode_records)
            return self._up_url, self._headers, True, body, sent
        body, sent = self._encode(items, encode_optimizely)
        return lane[0], OPTIMIZELY_HEADERS, False, body, sent

    async def _deliver(self, lane: LaneKey, items: list[Any]) -> None:
        url, headers, check_code, body, sent = self._request_for(lane, items)
        if body is None:
            return
        if lane != ANALYSYS_LANE and self.on_log_event is not None:
            try:
                self.on_log_event(url, items)
            except Exception:
                logger.exception("on_log_event hook raised")

        async def attempt() -> Attempt:
            return await self._post(url, body, headers, check_code)

        outcome = await call_with_retries(
            attempt, self._retry, sleep=self._sleep, jitter=self._jitter, on_retry=self._on_retry
        )
        stats = self._stats
        if outcome.ok:
            stats.delivered += sent
            return
        if outcome.retryable and self._spool is not None:
            logger.warning(
                "%s: %d item(s) for %s not delivered after retries (%s); spooling them",
                type(self).__name__,
                sent,
                url,
                outcome.detail,
            )
            await self._to_spool(url, headers, body, sent, check_code)
            return
        reason = DROP_RETRIES_EXHAUSTED if outcome.retryable else DROP_REJECTED
        stats.drop(reason, sent)
        logger.warning(
            "%s: dropped a batch of %d item(s) for %s (%s: %s)",
            type(self).__name__,
            sent,
            url,
            reason,
            outcome.detail,
        )

    def _encode_records(self, items: Sequence[Any]) -> bytes:
        return encode_analysys(items, self._encoding, self._level)

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
        logger.warning(
            "%s: dropped %d item(s) that cannot be serialised to JSON", type(self).__name__, bad
        )
        if not good:
            return None, 0
        return encode(good), len(good)

    def _on_retry(self, outcome: Attempt, delay: float) -> None:
        self._stats.retried += 1
        logger.info("%s: retrying in %.2fs after %s", type(self).__name__, delay, outcome.detail)

    async def _post(
        self, url: str, body: bytes, headers: dict[str, str], check_code: bool
    ) -> Attempt:
        stats = self._stats
        stats.requests += 1
        transport = self._transport
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
                        "analysys_code",
                        None,
                        f"response code {code} (HTTP {response.status})",
                    )
        if not outcome.ok:
            stats.failed_requests += 1
            stats.last_error = outcome.detail
        return outcome
