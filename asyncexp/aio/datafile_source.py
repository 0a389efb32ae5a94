"""Polling a datafile over HTTP: one task, conditional requests, backoff.

Rules:

* URL: ``datafile_url`` wins; else the vendor's template with ``{sdk_key}``
  (Optimizely ``https://cdn.optimizely.com/datafiles/{sdk_key}.json``,
  Eyeofcloud ``https://cdn.eyeofcloud.com/datafiles/{sdk_key}.json``); with an
  access token, the vendor's authenticated template and ``Authorization: Bearer``.
  The token goes only to that URL and never into logs, reprs or exception
  messages; one with control characters is refused at construction. Neither
  does a password in the URL nor the SDK key (given as ``sdk_key``): ``url``
  and every message show the URL through
  :func:`~asyncexp.aio.redaction.safe_url`, the SDK key masked to its last four
  characters. The URL itself stays private to the request.
* Requests send both ``If-None-Match`` (ETag) and ``If-Modified-Since``
  (Last-Modified). The validators are stored only once a body parsed, so a bad
  200 cannot pin the client to 304s (the reference stores them first).
* 304 keeps the config. A body that does not parse, or has an unsupported
  version, never replaces the working config: it is counted and logged once
  per distinct body (the last ``REPORTED_BODIES`` are remembered, so a server
  sending a new bad body each time costs a log line each, not memory). A
  parser bug is handled the same way, with its traceback, and never stops
  polling. A parsed config is applied only when its revision differs.
* One task fetches at a time: at start, then every ``update_interval`` seconds
  (default 300; under 30 warns). A failure waits an exponential backoff with
  jitter instead (reset by the next success), capped by the interval.
* Large bodies are parsed in the default executor so the loop keeps running.
* ``status`` (:mod:`asyncexp.aio.datafile_status`) says after each fetch whether
  the source is healthy, and tells its listeners.
* Shared state (optional): ``gate()`` is awaited before each scheduled fetch
  (not ``fetch_once``); False skips it (another worker polls), counted in
  ``stats.skipped``. ``on_new_body(body, config)`` is awaited after each new
  revision was applied (it persists the body; see
  :mod:`asyncexp.aio.shared_datafile`).
* Memory: a body over ``MAX_DATAFILE_BYTES`` (32 MiB) is refused while it is
  read; only the last good config is kept (plus the two validators and the
  ``REPORTED_BODIES`` digests). A parsed config costs a small multiple of its
  body (measured: see ``docs-drafts/hostile-shell.md``).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from asyncexp.aio.datafile_status import DatafileStatus
from asyncexp.aio.http import HttpTransport, RetryPolicy, TransportError
from asyncexp.aio.redaction import redact, safe_url
from asyncexp.aio.refresh_result import RefreshResult
from asyncexp.core.flags.datafile import ProjectConfig, parse_datafile
from asyncexp.errors import ConfigError

__all__ = ["VENDORS", "DatafileSource", "DatafileStats", "datafile_url_for"]

logger = logging.getLogger("asyncexp.datafile")

VENDORS: dict[str, tuple[str, str]] = {
    "optimizely": (
        "https://cdn.optimizely.com/datafiles/{sdk_key}.json",
        "https://config.optimizely.com/datafiles/auth/{sdk_key}.json",
    ),
    "eyeofcloud": (
        "https://cdn.eyeofcloud.com/datafiles/{sdk_key}.json",
        "https://config.eyeofcloud.com/datafiles/auth/{sdk_key}.json",
    ),
}
EXECUTOR_PARSE_BYTES = 128 * 1024
MAX_DATAFILE_BYTES = 32 * 1024 * 1024
REPORTED_BODIES = 64


def datafile_url_for(
    sdk_key: str | None,
    *,
    vendor: str = "optimizely",
    url_template: str | None = None,
    authenticated: bool = False,
) -> str:
    if vendor not in VENDORS:
        raise ConfigError(f"unknown vendor {vendor!r} (one of {', '.join(VENDORS)})")
    if not sdk_key:
        raise ConfigError("an sdk_key (or datafile_url) is needed to fetch a datafile")
    template = url_template or VENDORS[vendor][1 if authenticated else 0]
    if "{sdk_key}" not in template:
        raise ConfigError(f"url_template must contain {{sdk_key}}: {template!r}")
    return template.format(sdk_key=sdk_key)


@dataclass
class DatafileStats:
    fetches: int = 0
    not_modified: int = 0
    updates: int = 0
    unchanged_revision: int = 0
    skipped: int = 0
    errors: dict[str, int] = field(default_factory=dict)

    def count_error(self, kind: str) -> None:
        self.errors[kind] = self.errors.get(kind, 0) + 1


class DatafileSource:
    """Fetches the datafile and hands each new revision to ``on_config``."""

    def __init__(
        self,
        url: str,
        on_config: Callable[[ProjectConfig], None],
        *,
        access_token: str | None = None,
        sdk_key: str | None = None,
        update_interval: float = 300.0,
        request_timeout: float = 10.0,
        backoff: RetryPolicy | None = None,
        current_revision: Callable[[], str | None] = lambda: None,
        jitter: Callable[[], float] = random.random,
        wait: Callable[[float], Awaitable[None]] | None = None,
        parse: Callable[[bytes], ProjectConfig] | None = None,
        gate: Callable[[], Awaitable[bool]] | None = None,
        on_new_body: Callable[[bytes, ProjectConfig], Awaitable[None]] | None = None,
    ) -> None:
        if update_interval <= 0:
            raise ConfigError(f"update_interval must be positive, got {update_interval}")
        if update_interval < 30:
            logger.warning("Polling intervals below 30 seconds are not recommended.")
        if access_token is not None and (
            not isinstance(access_token, str)
            or any(ch < " " or ch == "\x7f" for ch in access_token)
        ):  # the message never quotes the token
            raise ConfigError("datafile_access_token must be a str without control characters")
        self._url = url
        self._sdk_key = sdk_key
        self._shown_url = safe_url(url, sdk_key)
        self._headers = {"Authorization": f"Bearer {access_token}"} if access_token else {}
        self._on_config = on_config
        self._interval = update_interval
        self._timeout = request_timeout
        self._backoff = backoff or RetryPolicy(base_delay=1.0, max_delay=update_interval)
        self._current_revision = current_revision
        self._jitter = jitter
        self._wait = wait
        # The client passes its GC-pausing parser; the shell knows only the core's.
        self._parse_body = parse
        self._gate = gate
        self._on_new_body = on_new_body
        self._etag: str | None = None
        self._last_modified: str | None = None
        self._reported: dict[str, None] = {}  # digests of bad bodies, oldest first
        self._task: asyncio.Task[None] | None = None
        self._stop = asyncio.Event()
        self._transport: HttpTransport | None = None
        self._lock = asyncio.Lock()
        self.stats = DatafileStats()
        self.status = DatafileStatus()  # health after each fetch: see datafile_status

    def __repr__(self) -> str:  # never shows the token, a password or the SDK key
        return f"DatafileSource(url={self.url!r}, authenticated={bool(self._headers)})"

    @property
    def url(self) -> str:
        """The URL as it may be shown: no password, the SDK key masked."""
        return self._shown_url

    def start(self, transport: HttpTransport) -> None:
        self._transport = transport
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(
                self._run(), name="asyncexp-datafile"
            )

    async def aclose(self) -> None:
        self._stop.set()
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    async def fetch_once(self) -> bool:
        """Fetch now; True when the request succeeded (200 handled or 304)."""
        return (await self.refresh()).reached_server

    async def refresh(self) -> RefreshResult:
        """Fetch now; what happened (updated, unchanged, not_modified, rejected, failed)."""
        async with self._lock:  # never two fetches at once
            errors = dict(self.stats.errors)
            result = await self._fetch()
            self.status.record(errors, self.stats.errors)
            return result

    async def _run(self) -> None:
        failures = 0
        while not self._stop.is_set():
            if self._gate is not None and not await self._gate():
                self.stats.skipped += 1
                await self._sleep(self._interval)
                continue
            ok = await self.fetch_once()
            failures = 0 if ok else failures + 1
            delay = self._interval if ok else self._backoff.delay(failures - 1, self._jitter())
            await self._sleep(min(delay, self._interval))

    async def _sleep(self, seconds: float) -> None:
        if self._wait is not None:
            await self._wait(seconds)
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stop.wait(), seconds)

    async def _fetch(self) -> RefreshResult:
        assert self._transport is not None, "start() first"
        headers = dict(self._headers)
        if self._etag:
            headers["If-None-Match"] = self._etag
        if self._last_modified:
            headers["If-Modified-Since"] = self._last_modified
        self.stats.fetches += 1
        try:
            response = await self._transport.get(
                self._url,
                headers=headers,
                timeout=self._timeout,
                max_response_bytes=MAX_DATAFILE_BYTES,
            )
        except TransportError as exc:
            self.stats.count_error("timeout" if exc.timed_out else "network")
            # its message shows the URL through safe_url, but not the SDK key masked
            reason = redact(str(exc), self._sdk_key)
            logger.warning("Fetching datafile from %s failed: %s", self.url, reason)
            return RefreshResult.FAILED
        if response.status == 304:
            self.stats.not_modified += 1
            return RefreshResult.NOT_MODIFIED
        if response.status != 200:
            self.stats.count_error(f"http_{response.status}")
            logger.warning("Fetching datafile from %s failed: HTTP %d", self.url, response.status)
            return RefreshResult.FAILED
        try:
            config = await self._parse(response.body)
        except Exception as exc:  # ConfigError; anything else is a parser bug: same outcome
            self.stats.count_error("invalid_datafile")
            if self._first_report(response.body):
                if isinstance(exc, ConfigError):
                    logger.error(
                        "Ignoring datafile from %s, keeping the current one: %s", self.url, exc
                    )
                else:
                    logger.error(
                        "Ignoring datafile from %s, keeping the current one: the parser failed",
                        self.url,
                        exc_info=exc,
                    )
            return RefreshResult.REJECTED
        self._etag = response.headers.get("ETag")
        self._last_modified = response.headers.get("Last-Modified")
        if config.revision == self._current_revision():
            self.stats.unchanged_revision += 1
            return RefreshResult.UNCHANGED
        self.stats.updates += 1
        self._on_config(config)
        if self._on_new_body is not None:
            await self._on_new_body(response.body, config)
        return RefreshResult.UPDATED

    def _first_report(self, body: bytes) -> bool:
        """True the first time ``body`` is seen among the last ``REPORTED_BODIES`` bad ones."""
        digest = hashlib.sha256(body).hexdigest()
        if digest in self._reported:
            return False
        self._reported[digest] = None
        if len(self._reported) > REPORTED_BODIES:
            del self._reported[next(iter(self._reported))]
        return True

    async def _parse(self, body: bytes) -> ProjectConfig:
        parse = self._parse_body or parse_datafile
        if len(body) < EXECUTOR_PARSE_BYTES:
            return parse(body)
        return await asyncio.get_running_loop().run_in_executor(None, parse, body)
