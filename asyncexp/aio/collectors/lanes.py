"""What a collector queues: per destination a *lane*, and in each lane *chunks*.

A chunk is the list of items one request will carry (at most
``max_request_size``) plus the sequence number and enqueue time of its first,
oldest item. ``submit`` appends to the newest chunk of the lane and opens a new
one only when that chunk is full, so per item it stores the item alone: no
tuple, no clock read. The dispatcher sends whole chunks and never copies them.

Why the first item is enough: sequence numbers and times only grow, so a
chunk's first item is its oldest (what ``max_interval`` is measured from) and
its lowest sequence number (what ``flush`` waits past).
"""

from __future__ import annotations

from collections import deque
from typing import Any

__all__ = ["Chunk", "Lane", "LaneKey", "SendInfo"]

LaneKey = tuple[str, ...]


class Chunk:
    """Items for one request; ``seq`` and ``at`` belong to the first of them."""

    __slots__ = ("at", "items", "seq")

    def __init__(self, seq: int, at: float, item: Any) -> None:
        self.seq = seq
        self.at = at
        self.items: list[Any] = [item]

    def __repr__(self) -> str:
        return f"Chunk(seq={self.seq}, items={len(self.items)})"


class Lane:
    """The chunks queued for one destination, oldest first, and how many items they hold."""

    __slots__ = ("chunks", "count", "due")

    def __init__(self) -> None:
        self.chunks: deque[Chunk] = deque()
        self.count = 0
        self.due = 0
        """Items at the head that reached ``batch_size`` and must go even if the
        concurrency limit holds them back for a while."""

    def take(self) -> Chunk:
        """The oldest chunk, removed."""
        chunk = self.chunks.popleft()
        size = len(chunk.items)
        self.count -= size
        self.due = max(0, self.due - size)
        return chunk


SendInfo = tuple[LaneKey, Chunk]
"""What a send task carries: its lane and its chunk."""
