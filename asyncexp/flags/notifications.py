"""Notification listeners: CONFIG_UPDATE, DECISION, TRACK, LOG_EVENT and STORED_DATAFILE.

Rules:

* ``add_listener(type, callback)`` returns an id (1, 2, …); adding the same
  callback twice for one type returns the id it already has. Types are the
  ``NotificationType`` values; ``OPTIMIZELY_CONFIG_UPDATE`` and
  ``EYEOFCLOUD_CONFIG_UPDATE`` (and the reference's long ``"DECISION:type, …"``
  strings) are accepted as names of the same types. An unknown type raises.
* Listeners run in the order they were added, on the caller's stack, with the
  reference's arguments:
  CONFIG_UPDATE ``()``; DECISION ``(type, user_id, attributes, info)``;
  TRACK ``(event_key, user_id, attributes, event_tags, event)``;
  LOG_EVENT ``(log_event)``; STORED_DATAFILE ``(revision, age_seconds)`` (asyncexp's
  own: the client started on the stored datafile, see ``datafile_store=``).
* A coroutine function's result is scheduled as a task on the running loop and
  awaited by ``drain()`` (the client drains at close). Without a running loop the
  coroutine is closed and a warning logged.
* A listener that raises is logged (``asyncexp.notifications``) and never breaks
  the decision or event that fired it.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Callable, Mapping
from enum import StrEnum
from types import MappingProxyType
from typing import Any

from asyncexp.errors import ArgumentTypeError, ValidationError

__all__ = ["NotificationCenter", "NotificationType"]

logger = logging.getLogger("asyncexp.notifications")

Listener = Callable[..., Any]


class NotificationType(StrEnum):
    CONFIG_UPDATE = "CONFIG_UPDATE"
    DECISION = "DECISION"
    TRACK = "TRACK"
    LOG_EVENT = "LOG_EVENT"
    STORED_DATAFILE = "STORED_DATAFILE"


_ALIASES: dict[str, NotificationType] = {
    "OPTIMIZELY_CONFIG_UPDATE": NotificationType.CONFIG_UPDATE,
    "EYEOFCLOUD_CONFIG_UPDATE": NotificationType.CONFIG_UPDATE,
    "DECISION:type, user_id, attributes, decision_info": NotificationType.DECISION,
    "TRACK:event_key, user_id, attributes, event_tags, event": NotificationType.TRACK,
    "LOG_EVENT:log_event": NotificationType.LOG_EVENT,
}


def _resolve(kind: str) -> NotificationType:
    if not isinstance(kind, str):
        raise ArgumentTypeError(f"notification type must be str, not {type(kind).__name__}")
    found = _ALIASES.get(kind)
    if found is not None:
        return found
    try:
        return NotificationType(kind)
    except ValueError:
        names = ", ".join(t.value for t in NotificationType)
        raise ValidationError(f"unknown notification type {kind!r} (one of {names})") from None


class NotificationCenter:
    """Listeners by type; ``client.notifications`` is one of these."""

    def __init__(self) -> None:
        self._next_id = 1
        self._listeners: dict[NotificationType, dict[int, Listener]] = {
            t: {} for t in NotificationType
        }
        self._tasks: set[asyncio.Task[Any]] = set()

    def add_listener(self, kind: str, callback: Listener) -> int:
        """Register ``callback`` for ``kind``; returns its id."""
        resolved = _resolve(kind)
        if not callable(callback):
            raise ArgumentTypeError("callback must be callable")
        for listener_id, existing in self._listeners[resolved].items():
            if existing == callback:
                return listener_id
        listener_id = self._next_id
        self._next_id += 1
        self._listeners[resolved][listener_id] = callback
        return listener_id

    def remove_listener(self, listener_id: int) -> bool:
        for listeners in self._listeners.values():
            if listeners.pop(listener_id, None) is not None:
                return True
        return False

    def clear(self, kind: str | None = None) -> None:
        """Remove the listeners of one type, or of every type."""
        kinds = list(NotificationType) if kind is None else [_resolve(kind)]
        for resolved in kinds:
            self._listeners[resolved].clear()

    def has_listeners(self, kind: NotificationType) -> bool:
        return bool(self._listeners[kind])

    def listeners_view(self, kind: NotificationType) -> Mapping[int, Listener]:
        """The live listeners of ``kind`` (read-only; it changes as listeners are added
        and removed), for hot paths where ``has_listeners`` is a call too many."""
        return MappingProxyType(self._listeners[kind])

    def send(self, kind: NotificationType, *args: Any) -> None:
        """Call every listener of ``kind``; never raises."""
        for callback in list(self._listeners[kind].values()):
            try:
                result = callback(*args)
            except Exception:
                logger.exception("%s listener %r raised", kind.value, callback)
                continue
            if inspect.isawaitable(result):
                self._schedule(kind, callback, result)

    def _schedule(self, kind: NotificationType, callback: Listener, awaitable: Any) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            logger.warning("%s listener %r is async but no loop is running", kind.value, callback)
            if inspect.iscoroutine(awaitable):
                awaitable.close()
            return
        task = loop.create_task(self._guard(kind, callback, awaitable))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    @staticmethod
    async def _guard(kind: NotificationType, callback: Listener, awaitable: Any) -> None:
        try:
            await awaitable
        except Exception:
            logger.exception("%s listener %r raised", kind.value, callback)

    @property
    def pending(self) -> int:
        """Async listener calls not finished yet."""
        return len(self._tasks)

    async def drain(self) -> None:
        """Wait for every scheduled async listener call (the client calls this at close)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)
