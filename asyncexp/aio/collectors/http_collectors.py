"""The HTTP collectors: ``RealtimeCollector`` and ``BatchCollector``.

Both send Analysys records and Optimizely events over HTTP with retries, keep
what they cannot deliver in the disk spool, and differ only in when they send
(see :mod:`.http_sender` for the delivery rules and :mod:`.spool` for the spool).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypedDict, Unpack

from asyncexp.aio.collectors.http_sender import HttpSender, Sleep
from asyncexp.aio.collectors.pipeline import Clock, WaitFn
from asyncexp.aio.collectors.spool import OnFull, SpoolSetting
from asyncexp.aio.collectors.wire import Encoding
from asyncexp.aio.http import RetryPolicy

__all__ = ["BatchCollector", "HttpOptions", "RealtimeCollector"]


class HttpOptions(TypedDict, total=False):
    """Keywords both HTTP collectors take (defaults in ``HttpSender``)."""

    memory_budget_mib: float
    max_queue_size: int | None
    request_timeout: float | None
    encoding: Encoding
    compress_level: int
    optimizely_events_url: str | None
    retry: RetryPolicy | None
    close_timeout: float
    spool: SpoolSetting
    spool_max_bytes: int
    spool_on_full: OnFull
    replay_interval: float
    probe_base: float
    probe_max: float
    clock: Clock
    wait: WaitFn
    sleep: Sleep
    jitter: Callable[[], float]
    wall_clock: Callable[[], float]
    log_interval: float


class RealtimeCollector(HttpSender):
    """Sends each item in its own request, as soon as a background task can.

    ``max_concurrency`` requests run at once; the rest wait in the queue, up to
    ``memory_budget_mib`` (then they overflow to the spool). Nothing is sent on
    the caller's stack. The other keywords are :class:`HttpOptions`.
    """

    def __init__(
        self,
        url: str | None = None,
        *,
        max_concurrency: int = 10,
        **options: Unpack[HttpOptions],
    ) -> None:
        super().__init__(
            url,
            batch_size=1,
            max_request_size=1,
            max_interval=0.0,
            max_concurrency=max_concurrency,
            **options,
        )


class BatchCollector(HttpSender):
    """Sends when ``batch_size`` items wait or the oldest waited ``max_interval`` seconds.

    At most ``max_request_size`` items per request; an Analysys ``$alias`` is
    sent at once together with everything queued before it. Memory is bounded
    by ``memory_budget_mib`` (default 8 MiB of encoded records; the rest
    overflows to the disk spool, see :mod:`.pipeline`); ``max_queue_size``
    optionally caps the queued items too. Up to ``max_concurrency`` (16)
    requests run at once: on a busy loop each request advances one step per loop
    iteration, so fewer in flight means a burst overflows to the spool sooner
    (``benchmarks/bench_events.py``: 4 in flight sent a 100,000-event burst
    about half through the spool, 16 mostly from memory). The other keywords
    are :class:`HttpOptions`.
    """

    def __init__(
        self,
        url: str | None = None,
        *,
        max_interval: float = 15.0,
        batch_size: int = 20,
        max_request_size: int = 100,
        max_concurrency: int = 16,
        **options: Unpack[HttpOptions],
    ) -> None:
        super().__init__(
            url,
            batch_size=batch_size,
            max_request_size=max_request_size,
            max_interval=max_interval,
            max_concurrency=max_concurrency,
            **options,
        )
        self._alias_is_urgent = True
