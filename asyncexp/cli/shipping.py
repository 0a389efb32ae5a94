"""Shipping ``LogCollector`` files to an ingestion server, resumably (``asyncexp ship``).

Rules:

* Files: ``datas_*.log`` directly in the directory (Analysys records, one JSON
  object per line), in name order, i.e. oldest first. ``optimizely_*.log`` files
  are not shipped.
* Wire: ``POST {url}/up`` in batches of up to ``batch_size`` records, encoded
  with :mod:`asyncexp.aio.collectors.wire` (gzip+base64 or plain JSON); only
  ``{"code": 200}`` is success. Retries follow the collectors' policy
  (:func:`asyncexp.aio.http.call_with_retries`): connection errors, timeouts,
  5xx, 429 and a 5xx or unreadable code are retried; other refusals are final.
  The first batch that fails stops the run: later data is never sent ahead of it.
* Resume state: ``.asyncexp-ship.json`` in the directory records, per
  destination ``/up`` URL (without credentials) and file name, the byte
  ``offset`` up to which lines were acknowledged (or skipped), and the
  ``lines``, ``records`` and ``malformed`` counts. It is rewritten atomically
  after every acknowledged batch, so a re-run sends nothing twice and a grown
  file resumes at its offset. A batch whose acknowledgement was lost (e.g. a
  timeout after the server stored it) is sent again on the next run: delivery
  is at least once.
* Only complete lines (ending in ``\\n``) are read, so a file the collector is
  still appending to is shipped up to its last complete line, and the rest on
  the next run; no file is skipped for being recent.
* A complete line that is not a JSON object is malformed: it is counted,
  logged as a warning with its file and line number, and skipped (the offset
  moves past it), unless ``strict``, which stops the run before it. Blank lines
  are skipped silently.
* A file shorter than its recorded offset was replaced or truncated: the run
  stops with an error rather than guess what to re-send.
* One run at a time per directory (an exclusive ``flock`` on
  ``.asyncexp-ship.lock``; not on Windows).
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit, urlunsplit

from asyncexp.aio.collectors.wire import (
    Encoding,
    analysys_headers,
    analysys_response_code,
    analysys_up_url,
    encode_analysys,
)
from asyncexp.aio.http import (
    Attempt,
    HttpTransport,
    RetryPolicy,
    TransportError,
    attempt_from_status,
    call_with_retries,
)
from asyncexp.cli._ship_files import (
    FILE_PATTERN,
    LOCK_FILE,
    STATE_FILE,
    FileState,
    ShipError,
    ShipState,
    exclusive,
    read_chunk,
)
from asyncexp.errors import ConfigError

__all__ = [
    "FILE_PATTERN",
    "LOCK_FILE",
    "STATE_FILE",
    "FileState",
    "ShipError",
    "ShipProgress",
    "ShipReport",
    "ShipState",
    "ship_directory",
]

logger = logging.getLogger("asyncexp.cli")


class ShipProgress(Protocol):
    """Receives progress as bytes of the files are acknowledged or skipped."""

    def begin(self, files: int, total_bytes: int) -> None: ...
    def advance(self, nbytes: int, records: int) -> None: ...
    def file_done(self, name: str, records: int, pending_bytes: int) -> None: ...
    def close(self) -> None: ...


@dataclass
class ShipReport:
    """The outcome of one run; ``error`` is set when it stopped on a failure."""

    url: str
    files: int = 0  # files with new data
    records: int = 0  # records acknowledged in this run
    requests: int = 0
    malformed: int = 0
    pending_bytes: int = 0  # incomplete last lines left for the next run
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


class _Sender:
    def __init__(
        self,
        transport: HttpTransport,
        url: str,
        encoding: Encoding,
        timeout: float,
        retry: RetryPolicy,
        sleep: Callable[[float], Awaitable[Any]],
    ) -> None:
        self._transport, self._url, self._encoding = transport, url, encoding
        self._timeout, self._retry, self._sleep = timeout, retry, sleep
        self._headers = analysys_headers(encoding)

    async def send(self, records: list[dict[str, Any]]) -> Attempt:
        body = encode_analysys(records, self._encoding)
        return await call_with_retries(
            lambda: self._post(body), self._retry, sleep=self._sleep, on_retry=self._on_retry
        )

    async def _post(self, body: bytes) -> Attempt:
        # The collectors' rules (http_sender.HttpSender._post): 2xx and code 200.
        try:
            response = await self._transport.post(
                self._url, body, headers=self._headers, timeout=self._timeout
            )
        except TransportError as exc:
            return Attempt(False, True, "transport", None, str(exc))
        outcome = attempt_from_status(response)
        if outcome.ok and (code := analysys_response_code(response.body)) != 200:
            detail = f"response code {code} (HTTP {response.status})"
            return Attempt(False, code is None or code >= 500, "analysys_code", None, detail)
        return outcome

    @staticmethod
    def _on_retry(outcome: Attempt, delay: float) -> None:
        logger.info("retrying a batch in %.1fs after %s", delay, outcome.detail)


async def ship_directory(
    directory: str | os.PathLike[str],
    url: str,
    *,
    batch_size: int = 100,
    encoding: Encoding = "gzip",
    retry: RetryPolicy | None = None,
    request_timeout: float = 30.0,
    strict: bool = False,
    progress: ShipProgress | None = None,
    transport: HttpTransport | None = None,
    sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
) -> ShipReport:
    """Ship the new lines of every ``datas_*.log`` in ``directory`` to ``{url}/up``.

    Raises :class:`ShipError` when it cannot start; a failure while sending is
    returned in ``ShipReport.error``, with the state saved for what succeeded.
    """
    if not isinstance(url, str) or not url.startswith(("http://", "https://")):
        raise ConfigError(f"url: must be an http(s) URL, got {url!r}")
    if batch_size < 1:
        raise ConfigError(f"batch_size: must be at least 1, got {batch_size!r}")
    if encoding not in ("gzip", "json"):
        raise ConfigError(f"encoding: must be 'gzip' or 'json', got {encoding!r}")
    folder = Path(directory)
    up_url = analysys_up_url(url)
    # Reports, messages and the state file name the URL without its credentials.
    report = ShipReport(_without_credentials(up_url))
    with exclusive(folder):
        state, todo = await asyncio.to_thread(_plan, folder, report.url)
        if progress is not None:
            progress.begin(len(todo), sum(max(0, s - fp.offset) for _, s, fp in todo))
        client = transport or HttpTransport()
        sender = _Sender(client, up_url, encoding, request_timeout, retry or RetryPolicy(), sleep)
        try:
            for path, size, file_state in todo:
                report.error = await _ship_file(
                    path, size, file_state, state, sender, batch_size, strict, report, progress
                )
                if report.error is not None:
                    break
        finally:
            if transport is None:
                await client.aclose()
            if progress is not None:
                progress.close()
    return report


def _without_credentials(url: str) -> str:
    """``url`` without ``user:password@``."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))


def _plan(folder: Path, url: str) -> tuple[ShipState, list[tuple[Path, int, FileState]]]:
    """The state, and the files with something new for ``url`` with their sizes now."""
    state = ShipState.load(folder)
    todo = []
    for path in sorted(folder.glob(FILE_PATTERN)):
        if path.is_file():
            size = path.stat().st_size
            done = state.file(url, path.name)
            if size != done.offset:
                todo.append((path, size, done))
    return state, todo


async def _ship_file(
    path: Path,
    size: int,
    done: FileState,
    state: ShipState,
    sender: _Sender,
    batch_size: int,
    strict: bool,
    report: ShipReport,
    progress: ShipProgress | None,
) -> str | None:
    """Ship one file from its recorded offset; the error line, or None."""
    name = path.name
    if size < done.offset:
        return (
            f"{name} is shorter ({size} bytes) than what was shipped from it ({done.offset} "
            f"bytes): it was replaced or truncated; remove its entry from {STATE_FILE} to ship it"
        )
    report.files += 1
    shipped = 0
    while done.offset < size:
        chunk = await asyncio.to_thread(read_chunk, path, done.offset, size, batch_size, strict)
        if chunk.records:
            report.requests += 1
            outcome = await sender.send(chunk.records)
            if not outcome.ok:
                lines = f"lines {done.lines + 1}-{done.lines + chunk.lines}"
                return f"{name} {lines} not accepted by {report.url}: {outcome.detail}"
        for line, reason in chunk.malformed:
            logger.warning("%s:%d: %s; skipped", name, done.lines + line, reason)
        advanced = chunk.end - done.offset
        done.offset, done.lines = chunk.end, done.lines + chunk.lines
        done.records += len(chunk.records)
        done.malformed += len(chunk.malformed)
        shipped += len(chunk.records)
        report.records += len(chunk.records)
        report.malformed += len(chunk.malformed)
        if advanced:
            await asyncio.to_thread(state.save)
        if progress is not None:
            progress.advance(advanced, len(chunk.records))
        if chunk.stop is not None:
            return f"{name}:{done.lines + 1}: {chunk.stop} (stopped: strict mode)"
        if chunk.incomplete:
            break
    pending = max(0, size - done.offset)  # negative when a line completed while reading
    report.pending_bytes += pending
    if pending:
        logger.info("%s: %d byte(s) without a final newline left for the next run", name, pending)
    if progress is not None:
        progress.file_done(name, shipped, pending)
    return None
