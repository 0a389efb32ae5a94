"""``SegmentSource``: how a user context starts a segment fetch without knowing the shell.

Rules: the protocol is all :mod:`asyncexp.flags` knows of segment fetching; the
client passes in the implementation (``asyncexp.aio.odp.OdpManager.start_fetch``).
``start_fetch`` is a plain call that starts one task and returns it; the
task's result is the success flag and ``on_segments`` stores what was fetched.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    import asyncio

__all__ = ["FetchCallback", "SegmentSource"]

FetchCallback = Callable[[bool], Any]
"""``callback(success)``: a function, or a coroutine function awaited by the task."""


class SegmentSource(Protocol):
    """Starts fetching one user's qualified segments in a task."""

    def start_fetch(
        self,
        user_id: str,
        on_segments: Callable[[list[str]], None],
        callback: FetchCallback | None = None,
        options: Iterable[str] | None = None,
    ) -> asyncio.Task[bool]: ...
