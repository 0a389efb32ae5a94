"""``start_segment_fetch``: the task behind ``UserContext.fetch_qualified_segments``.

Rules:

* The call is plain (it never awaits): it checks its arguments, starts one
  task and returns it. ``await task`` gives True when the segments were fetched
  and stored, False otherwise; the task itself never raises (except
  ``CancelledError`` when cancelled).
* On success ``on_segments(segments)`` stores them (typically
  ``user.set_qualified_segments``); on failure nothing is stored, so the
  segments the user had stay in place (the reference sets them to None).
* ``callback``, if given, is called with the success flag when the fetch has
  ended and the segments are stored. A coroutine function (or any callable
  returning an awaitable) is awaited inside the task, so ``await task`` also
  waits for it. An exception from the callback is logged and does not change
  the task's result.
* If the task is cancelled (by the caller, or at the close deadline), a plain
  callback is still called with False; a coroutine callback is not run.
* The task is registered with the manager, which keeps a reference until it
  ends and waits for it in ``aclose``; callers may keep or drop the task.
* Bad arguments raise at the call site: ``ArgumentTypeError`` for a wrong type,
  ``ClientClosedError`` after close, ``ClientStateError`` outside a running loop.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from asyncexp.aio.odp.messages import logger
from asyncexp.errors import ArgumentTypeError, ClientClosedError, ClientStateError

if TYPE_CHECKING:
    from asyncexp.aio.odp.manager import OdpManager

__all__ = ["FetchCallback", "check_odp_options", "start_segment_fetch"]

FetchCallback = Callable[[bool], Any]
"""``callback(success)``: a function, or a coroutine function awaited by the task."""


def check_odp_options(options: object) -> frozenset[str]:
    """Options as a set of strings (a single string is one option); raises on bad types."""
    if options is None:
        return frozenset()
    if isinstance(options, str):
        return frozenset((options,))
    if not isinstance(options, Iterable):
        raise ArgumentTypeError(
            f"options must be a list of OdpOption, not {type(options).__name__}"
        )
    items = list(options)
    for item in items:
        if not isinstance(item, str):
            raise ArgumentTypeError(f"options must be str values, not {type(item).__name__}")
    return frozenset(items)


def start_segment_fetch(
    manager: OdpManager,
    user_id: str,
    on_segments: Callable[[list[str]], None],
    callback: FetchCallback | None = None,
    options: Iterable[str] | None = None,
) -> asyncio.Task[bool]:
    """Start fetching ``user_id``'s segments in a task; see the module docstring."""
    if not isinstance(user_id, str):
        raise ArgumentTypeError(f"user_id must be str, not {type(user_id).__name__}")
    if callback is not None and not callable(callback):
        raise ArgumentTypeError(f"callback must be callable, not {type(callback).__name__}")
    opts = check_odp_options(options)
    if manager.closed:
        raise ClientClosedError("the client is closed")
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        raise ClientStateError("fetch_qualified_segments needs a running event loop") from None
    task = loop.create_task(
        _fetch_and_store(manager, user_id, on_segments, callback, opts),
        name=f"asyncexp-odp-fetch-{user_id[:40]}",
    )
    manager.register_task(task)
    return task


async def _fetch_and_store(
    manager: OdpManager,
    user_id: str,
    on_segments: Callable[[list[str]], None],
    callback: FetchCallback | None,
    options: frozenset[str],
) -> bool:
    try:
        segments = await manager.fetch_segments(user_id, options)
    except asyncio.CancelledError:
        if callback is not None and not inspect.iscoroutinefunction(callback):
            _call_plain(callback)
        raise
    success = segments is not None
    if segments is not None:
        try:
            on_segments(segments)
        except Exception:
            logger.exception("storing the fetched segments of user %r failed", user_id)
            success = False
    if callback is not None:
        try:
            result = callback(success)
            if inspect.isawaitable(result):
                await result
        except Exception:
            logger.exception("the segment fetch callback raised")
    return success


def _call_plain(callback: FetchCallback) -> None:
    try:
        result = callback(False)
    except Exception:
        logger.exception("the segment fetch callback raised")
        return
    if inspect.iscoroutine(result):
        result.close()  # an async callable object: it cannot run during cancellation
