"""Collectors: one queue machinery, three modes (real-time, batch, log files).

See :mod:`asyncexp.aio.collectors.pipeline` for the queue, flush and shutdown
rules, :mod:`.wire` for the Analysys and Optimizely wire formats.
"""

from __future__ import annotations

from asyncexp.aio.collectors.base import Collector, CollectorStats
from asyncexp.aio.collectors.http_collectors import BatchCollector, RealtimeCollector
from asyncexp.aio.collectors.log import LogCollector

__all__ = [
    "BatchCollector",
    "Collector",
    "CollectorStats",
    "LogCollector",
    "RealtimeCollector",
]
