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

__all__ = ["Accumulator", "Chunk", "Lane", "LaneKey"]

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


class Accumulator:
    """What ``submit`` fills and the sender drains (state of its own, shared by reference).

    * ``lanes``: the in-memory queue, per destination;
    * ``overflow``: per lane, the chunk ``submit`` is filling while the memory
      budget is used up; written to disk as soon as it holds a request
      (``max_request_size`` items), or by the sender if it is still partial;
    * ``urgent``: per lane, the sequence number of the newest urgent item;
    * ``seq``: the next sequence number;
    * ``limit``: how many items the memory budget holds, from the measured
      encoded size per item (``observe``).
    """

    __slots__ = (
        "_floor",
        "budget",
        "cap",
        "item_bytes",
        "lanes",
        "limit",
        "overflow",
        "seq",
        "urgent",
    )

    def __init__(self, budget: int, cap: int | None, floor: int) -> None:
        self.lanes: dict[LaneKey, Lane] = {}
        self.overflow: dict[LaneKey, Chunk] = {}
        self.urgent: dict[LaneKey, int] = {}
        self.seq = 0
        self.budget = budget
        self.cap = cap
        self.item_bytes = 600.0  # a first guess; replaced by what the encoder measures
        self._floor = floor
        self.limit = 0
        self._set_limit()

    def observe(self, encoded_bytes: int, items: int) -> None:
        """An encoder measured ``encoded_bytes`` for ``items``: adjust the item limit."""
        if items > 0:
            self.item_bytes = 0.75 * self.item_bytes + 0.25 * (encoded_bytes / items)
            self._set_limit()

    def _set_limit(self) -> None:
        limit = max(self._floor, int(self.budget / max(self.item_bytes, 16.0)))
        self.limit = limit if self.cap is None else min(limit, self.cap)
