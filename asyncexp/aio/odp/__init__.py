"""Optimizely Data Platform: real-time audience segments and ODP events.

* :mod:`.manager` ties them together per client (:class:`OdpManager`); it owns
  a segments part (:mod:`.manager_segments`) and an events part
  (:mod:`.manager_events`) that share the settings in :mod:`.state` (with the
  state and counters);
* :mod:`.segments` fetches segments over GraphQL (:mod:`.graphql`: body and answer),
  coalescing identical requests;
* :mod:`.cache` keeps answers (LRU with a time to live);
* :mod:`.events` (the queue, which owns the sender of :mod:`.event_sender` and
  the state of :mod:`.event_queue`) and :mod:`.payload` queue, batch and send ODP
  events;
* :mod:`.fetch_task` runs a fetch as a task with an optional callback.
"""

from __future__ import annotations

from asyncexp.aio.odp.cache import SegmentsCache
from asyncexp.aio.odp.events import OdpEventManager
from asyncexp.aio.odp.fetch_task import start_segment_fetch
from asyncexp.aio.odp.manager import OdpManager, OdpState, OdpStats
from asyncexp.aio.odp.segments import OdpOption, SegmentStats

__all__ = [
    "OdpEventManager",
    "OdpManager",
    "OdpOption",
    "OdpState",
    "OdpStats",
    "SegmentStats",
    "SegmentsCache",
    "start_segment_fetch",
]
