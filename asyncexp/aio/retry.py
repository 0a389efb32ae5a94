"""Retries shared by every sender: which failures are retried, and when.

:class:`RetryPolicy`, applied by :func:`call_with_retries`:

* retried: connection errors, timeouts, HTTP 5xx and HTTP 429;
* not retried: every other status, i.e. other 4xx (the request is wrong and
  sending it again cannot help);
* delay before retry *n* (0-based): ``ceiling = min(max_delay, base_delay * 2**n)``,
  then "equal jitter" ``ceiling/2 + jitter() * ceiling/2``; a ``Retry-After``
  header (seconds or an HTTP date) raises the delay to at least its value, capped
  at ``max_retry_after``;
* the jitter source, the sleep and the wall clock are arguments, so tests drive them.
"""

from __future__ import annotations

import asyncio
import email.utils
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

__all__ = [
    "Attempt",
    "RetryPolicy",
    "call_with_retries",
    "is_retryable_status",
    "parse_retry_after",
]


def is_retryable_status(status: int) -> bool:
    return status == 429 or 500 <= status <= 599


def parse_retry_after(value: str | None, now: float) -> float | None:
    """Seconds to wait from a ``Retry-After`` value (delta-seconds or HTTP date)."""
    if value is None:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            return None
        seconds = when.timestamp() - now
    if seconds != seconds:  # NaN
        return None
    return max(0.0, seconds)


@dataclass(frozen=True, slots=True)
class Attempt:
    """The outcome of one try: ``ok``, or a failure that may be ``retryable``."""

    ok: bool
    retryable: bool = False
    reason: str = ""
    retry_after: float | None = None
    detail: str = ""


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    max_retries: int = 5
    base_delay: float = 0.5
    max_delay: float = 30.0
    max_retry_after: float = 120.0

    def delay(self, retry: int, jitter: float, retry_after: float | None = None) -> float:
        """Seconds to wait before retry number ``retry`` (0-based); ``jitter`` is in [0, 1)."""
        ceiling = min(self.max_delay, self.base_delay * (2.0**retry))
        wait = ceiling / 2 + jitter * ceiling / 2
        if retry_after is not None:
            wait = max(wait, min(retry_after, self.max_retry_after))
        return wait


async def call_with_retries(
    attempt: Callable[[], Awaitable[Attempt]],
    policy: RetryPolicy,
    *,
    sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
    jitter: Callable[[], float] = random.random,
    on_retry: Callable[[Attempt, float], None] | None = None,
) -> Attempt:
    """Run ``attempt`` until it is ok, final, or the retries are spent; return the last outcome."""
    retry = 0
    while True:
        outcome = await attempt()
        if outcome.ok or not outcome.retryable or retry >= policy.max_retries:
            return outcome
        wait = policy.delay(retry, jitter(), outcome.retry_after)
        if on_retry is not None:
            on_retry(outcome, wait)
        await sleep(wait)
        retry += 1
