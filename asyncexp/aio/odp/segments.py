"""Fetching a user's qualified segments from ODP over GraphQL, one request per question.

Wire (reference §7.2):

* ``POST {host}/v3/graphql`` with ``content-type: application/json`` and
  ``x-api-key: <public key>``; timeout 10 s by default.
* Body: ``{"query": GRAPHQL_QUERY, "variables": {"userId": <user id>,
  "audiences": [<segments to check>]}}``, serialised with ``json.dumps``
  defaults, so the bytes equal the reference's. The user key is always
  ``fs_user_id``.
* Answer: the ``name`` of every ``data.customer.audiences.edges[].node`` whose
  ``state`` is ``"qualified"``, in the server's order.

Failures return None, are counted by kind in :class:`SegmentStats` and log
``Audience segments fetch failed (<reason>).`` (throttled per reason):

==================  ==========================================  =======
kind                reason                                      level
==================  ==========================================  =======
network, timeout    ``network error``                           error
http_status         ``network error`` (the status is at debug)  error
invalid_identifier  ``invalid identifier`` (GraphQL error code  warning
                    ``INVALID_IDENTIFIER_EXCEPTION``)
graphql_error       the error's ``extensions.classification``   error
json_decode         ``JSON decode error``                       error
decode              ``decode error`` (missing or mistyped keys) error
==================  ==========================================  =======

Coalescing: while a request for ``(host, key, user id, segments)`` is in flight,
an identical fetch awaits the same request instead of sending another. The
shared request runs in its own task, so one caller being cancelled does not
cancel it for the others.

Only the segments asked for are kept (:func:`.graphql.parse_segments_answer`):
qualified names the question did not list, and repeats, are dropped and counted in
``SegmentStats.discarded_segments``. URLs reach the logs through
:func:`asyncexp.aio.redaction.safe_url` (no ``user:password@``); the key never does.

The request body and the parsing of the answer are in :mod:`.graphql`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from asyncexp.aio.http import HttpTransport, TransportError
from asyncexp.aio.odp.graphql import (
    GRAPHQL_QUERY,
    INVALID_IDENTIFIER,
    _FetchError,
    build_segments_query,
    parse_segments_answer,
    parse_segments_response,
)
from asyncexp.aio.odp.messages import FETCH_SEGMENTS_FAILED, ThrottledLog, logger
from asyncexp.aio.redaction import safe_url
from asyncexp.errors import AsyncExpError

__all__ = [
    "GRAPHQL_QUERY",
    "INVALID_IDENTIFIER",
    "OdpOption",
    "SegmentFetcher",
    "SegmentStats",
    "build_segments_query",
    "parse_segments_response",
]

RequestKey = tuple[str, str, str, tuple[str, ...]]
Saver = Callable[[tuple[str, ...]], Awaitable[None] | None]
"""Runs with an answer inside the shared request; an awaitable result is awaited there."""


class OdpOption(StrEnum):
    """Options of a segment fetch; the values are the reference's, so plain strings work."""

    IGNORE_CACHE = "IGNORE_CACHE"
    """Neither read nor write the cache for this fetch."""
    RESET_CACHE = "RESET_CACHE"
    """Empty the whole cache first, then fetch (and save unless IGNORE_CACHE)."""


@dataclass(slots=True)
class SegmentStats:
    """Counters of segment fetching, readable at any time."""

    fetches: int = 0
    """Calls of ``fetch_segments``."""
    cache_hits: int = 0
    """Fetches answered from the cache."""
    no_segments: int = 0
    """Fetches answered ``[]`` at once because the datafile uses no segments."""
    requests: int = 0
    """GraphQL requests sent."""
    coalesced: int = 0
    """Fetches that joined a request already in flight instead of sending one."""
    succeeded: int = 0
    """Fetches that returned segments (cache hits, joins and ``[]`` included)."""
    failures: dict[str, int] = field(default_factory=dict)
    """Failures by kind: one per failed request (see the module docstring), and one per
    fetch refused before any request (``not_enabled``, ``not_integrated``, ``closed``)."""
    last_failure: str | None = None
    """The reason text of the most recent failure."""
    discarded_segments: int = 0
    """Qualified names in answers that were not asked for (or repeated): dropped, not kept."""
    cache_errors: int = 0
    """Shared-cache calls that failed (a lookup then misses, a save is skipped)."""

    def fail(self, kind: str, reason: str) -> None:
        self.failures[kind] = self.failures.get(kind, 0) + 1
        self.last_failure = reason

    def as_dict(self) -> dict[str, Any]:
        return {
            "fetches": self.fetches,
            "cache_hits": self.cache_hits,
            "no_segments": self.no_segments,
            "requests": self.requests,
            "coalesced": self.coalesced,
            "succeeded": self.succeeded,
            "failures": dict(self.failures),
            "last_failure": self.last_failure,
            "discarded_segments": self.discarded_segments,
            "cache_errors": self.cache_errors,
        }


class _Flight:
    """One request in flight: its task and what to run with its answer."""

    __slots__ = ("savers", "task")

    def __init__(
        self,
        task: asyncio.Task[tuple[str, ...] | None],
        savers: list[Saver],
    ) -> None:
        self.task = task
        self.savers = savers


class SegmentFetcher:
    """Sends GraphQL segment requests through the shared transport, coalescing duplicates."""

    def __init__(
        self,
        transport_getter: Callable[[], HttpTransport],
        stats: SegmentStats,
        log: ThrottledLog,
        *,
        timeout: float = 10.0,
    ) -> None:
        self._transport_getter = transport_getter
        self._stats = stats
        self._log = log
        self._timeout = timeout
        self._inflight: dict[RequestKey, _Flight] = {}

    @property
    def in_flight(self) -> int:
        return len(self._inflight)

    async def fetch(
        self,
        host: str,
        api_key: str,
        user_id: str,
        segments: tuple[str, ...],
        on_success: Saver | None = None,
    ) -> list[str] | None:
        """Segments for ``user_id`` (None on failure); joins an identical request in flight.

        ``on_success`` (typically a cache save) runs inside the shared request, as soon as
        the answer is parsed and before any caller resumes, so a fetch started after the
        request ended finds the answer saved: there is no window for a second request.
        """
        key: RequestKey = (host, api_key, user_id, segments)
        flight = self._inflight.get(key)
        if flight is None:
            self._stats.requests += 1
            savers: list[Saver] = []
            task = asyncio.get_running_loop().create_task(
                self._request(host, api_key, user_id, segments, savers),
                name="asyncexp-odp-segments",
            )
            flight = self._inflight[key] = _Flight(task, savers)
            task.add_done_callback(lambda done: self._forget(key, flight))
        else:
            self._stats.coalesced += 1
        if on_success is not None:
            flight.savers.append(on_success)
        result = await asyncio.shield(flight.task)
        return list(result) if result is not None else None

    def _forget(self, key: RequestKey, flight: _Flight) -> None:
        if self._inflight.get(key) is flight:
            del self._inflight[key]

    async def _request(
        self,
        host: str,
        api_key: str,
        user_id: str,
        segments: tuple[str, ...],
        savers: list[Saver],
    ) -> tuple[str, ...] | None:
        url = host.rstrip("/") + "/v3/graphql"
        headers = {"content-type": "application/json", "x-api-key": api_key}
        try:
            try:
                body = build_segments_query(user_id, segments)
                response = await self._transport_getter().post(
                    url, body, headers=headers, timeout=self._timeout
                )
            except TransportError as exc:  # its message holds a safe URL already
                logger.debug("segments request to %s failed: %s", safe_url(url), exc)
                raise _FetchError(
                    "timeout" if exc.timed_out else "network", "network error"
                ) from None
            except AsyncExpError as exc:  # a closed transport: the client is shutting down
                logger.debug("segments request to %s not sent: %s", safe_url(url), exc)
                raise _FetchError("network", "network error") from None
            if not 200 <= response.status <= 299:
                logger.debug("segments request to %s: HTTP %d", safe_url(url), response.status)
                raise _FetchError("http_status", "network error")
            result, discarded = parse_segments_answer(response.body, segments)
            if discarded:
                self._stats.discarded_segments += discarded
                self._log.log(
                    logging.WARNING,
                    "fetch:discarded",
                    "ODP answered %d segment(s) that were not asked for; they are ignored",
                    discarded,
                )
        except _FetchError as failure:
            self._stats.fail(failure.kind, failure.reason)
            message = FETCH_SEGMENTS_FAILED.format(failure.reason)
            self._log.log(failure.level, "fetch:" + failure.kind, message)
            return None
        except Exception:  # a bug here must not surface as an unretrieved task error
            self._stats.fail("internal_error", "internal error")
            logger.exception(FETCH_SEGMENTS_FAILED.format("internal error"))
            return None
        for save in savers:
            try:
                saved = save(result)
                if saved is not None:  # a shared cache: saved before any caller resumes
                    await saved
            except Exception:
                logger.exception("saving fetched segments failed")
        return result

    async def aclose(self) -> None:
        """Cancel the requests still in flight and wait for them to end."""
        tasks = [flight.task for flight in self._inflight.values()]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
