"""``StoreParts``: the lifecycle of the stores a client was given (each started once).

Rules: a store with ``start()``/``aclose()`` coroutines (the Redis stores, whose
shared connection opens its pool on the first start and closes it on the
last close) is started by the client's ``start`` before anything reads it,
and closed after everything that writes to it. The same object given twice
(one store used for two roles) is started and closed once. Stores without
those methods (a plain file store, a user's own object) are left alone.
"""

from __future__ import annotations

import logging
from typing import Any

__all__ = ["StoreParts"]

logger = logging.getLogger("asyncexp.client")


class StoreParts:
    def __init__(self) -> None:
        self._parts: list[Any] = []
        self._started: list[Any] = []

    def add(self, part: object) -> None:
        if part is None or any(part is known for known in self._parts):
            return
        if callable(getattr(part, "start", None)) and callable(getattr(part, "aclose", None)):
            self._parts.append(part)

    def __len__(self) -> int:
        return len(self._parts)

    async def start(self) -> None:
        for part in self._parts:
            if any(part is done for done in self._started):
                continue
            await part.start()
            self._started.append(part)

    async def aclose(self) -> None:
        """Close what was started, last started first; a failure is logged, not raised."""
        while self._started:
            part = self._started.pop()
            try:
                await part.aclose()
            except Exception:
                logger.exception("closing %r failed", part)
