"""Writing to the disk spool from a collector (the spool itself is :mod:`.spool`).

A mixin of :class:`~asyncexp.aio.collectors.http_sender.HttpSender`: a batch
whose retries ran out, or that the close deadline cut off, is written as the
exact request. Every item ends counted: ``spooled``, or dropped as
``spool_full`` / ``spool_error`` (and ``unencodable`` by the encoder).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from asyncexp.aio.collectors.base import DROP_SPOOL_ERROR, DROP_SPOOL_FULL, CollectorStats
from asyncexp.aio.collectors.lanes import LaneKey
from asyncexp.aio.collectors.spool import SpoolBatch, SpoolFull, SpoolStore

__all__ = ["SpoolWriter"]

logger = logging.getLogger("asyncexp.aio.collectors")


class SpoolWriter:
    """Mixin: ``_spill`` (the close deadline) and ``_to_spool`` (retries ran out)."""

    _spool: SpoolStore | None
    _stats: CollectorStats

    @property
    def _name(self) -> str:
        return type(self).__name__

    def _request_for(
        self, lane: LaneKey, items: list[Any]
    ) -> tuple[str, dict[str, str], bool, bytes | None, int]:
        raise NotImplementedError

    async def _spill(self, lane: LaneKey, items: list[Any]) -> int:
        if self._spool is None:
            return 0
        url, headers, check_code, body, sent = self._request_for(lane, items)
        if body is not None:
            await self._to_spool(url, headers, body, sent, check_code)
        return len(items)  # spooled, or counted as dropped by the encoder or the spool

    async def _to_spool(
        self, url: str, headers: dict[str, str], body: bytes, count: int, check_code: bool
    ) -> None:
        assert self._spool is not None
        batch = SpoolBatch(url, dict(headers), body, count, check_code)
        loop = asyncio.get_running_loop()
        try:
            evicted = await loop.run_in_executor(None, self._spool.write, batch)
        except SpoolFull as exc:
            self._stats.drop(DROP_SPOOL_FULL, count)
            logger.warning(
                "%s: spool full (%s); dropped %d item(s)", type(self).__name__, exc, count
            )
            return
        except OSError as exc:
            self._stats.drop(DROP_SPOOL_ERROR, count)
            self._stats.last_error = f"spool write: {exc}"
            logger.error(
                "%s: spool write failed (%s); dropped %d item(s)", type(self).__name__, exc, count
            )
            return
        self._stats.spooled += count
        if evicted:
            self._stats.replay_dropped += evicted
            logger.warning("%s: spool full; evicted %d older item(s)", self._name, evicted)
