"""``AppConfigPoller``: opens the AppConfig client, fetches every source and polls until closed.

Rules: the poller owns the aiobotocore client, the exit stack that closes it
and the polling task; it knows nothing of decisions. Every valid run it
fetches is handed to the ``store`` callable it was given (the owner's
``_store``); a failed request or an invalid run is logged and counted in the
shared :class:`AppConfigStats` and never reaches ``store``.

Start-up is bounded: ``start`` opens the client (with the timeouts and retries
of :mod:`.limits`), starts the polling task, whose first round fetches every
source, and waits for that round at most ``ready_timeout`` seconds (None: until
it ends). A round still running then is logged (a warning, not an error:
decisions use the runs loaded so far, as a client without its datafile does)
and counted in ``stats.start_timeouts``; it goes on in the background.

One run per source: when a source's answer changes flag key, the run stored
under the old key is handed to ``forget``, so a server cannot grow the runs
held by sending a new key each round.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import importlib.util
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from asyncexp.aio.appconfig.limits import (
    DEFAULT_CONNECT_TIMEOUT,
    DEFAULT_MAX_ATTEMPTS,
    DEFAULT_READ_TIMEOUT,
    RUN_PARSE_EVENT,
    RunResponseTooLargeError,
    botocore_config,
    check_run_response_size,
)
from asyncexp.aio.appconfig.types import AppConfigStats, RunSource, _short
from asyncexp.core.appconfig import parse_experiment_run
from asyncexp.errors import ClientClosedError, ClientStateError, ConfigError, MissingExtraError

if TYPE_CHECKING:
    from asyncexp.core.appconfig import ExperimentRun

__all__ = ["AppConfigPoller"]

# The shell's one logger name, shared with asyncexp.aio.appconfig.
logger = logging.getLogger("asyncexp.appconfig")


class AppConfigPoller:
    """The lifecycle of AppConfig polling: ``start`` → background rounds → ``aclose``."""

    def __init__(
        self,
        *,
        sources: Sequence[RunSource],
        store: Callable[[ExperimentRun], None],
        stats: AppConfigStats,
        region: str | None,
        poll_interval: float,
        max_backoff: float,
        session: Any,
        client_kwargs: Mapping[str, Any],
        sleep: Callable[[float], Awaitable[None]],
        forget: Callable[[str], None] = lambda flag_key: None,
        ready_timeout: float | None = None,
        connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
        read_timeout: float = DEFAULT_READ_TIMEOUT,
        max_attempts: int = DEFAULT_MAX_ATTEMPTS,
    ) -> None:
        for name, value in (
            ("connect_timeout", connect_timeout),
            ("read_timeout", read_timeout),
            ("ready_timeout", 0 if ready_timeout is None else ready_timeout),
        ):
            if isinstance(value, bool) or not isinstance(value, int | float) or not value >= 0:
                raise ConfigError(f"{name}: must be a number >= 0, got {value!r}")
        if isinstance(max_attempts, bool) or not isinstance(max_attempts, int) or max_attempts < 1:
            raise ConfigError(f"max_attempts: must be an int >= 1, got {max_attempts!r}")
        self._sources = tuple(sources)
        self._store = store
        self._forget = forget
        self._ready_timeout = ready_timeout
        self._connect_timeout = float(connect_timeout)
        self._read_timeout = float(read_timeout)
        self._max_attempts = max_attempts
        self._keys: dict[RunSource, str] = {}  # the flag key each source's run was stored under
        self._stats = stats
        self._region = region
        self._interval = float(poll_interval)
        self._max_backoff = float(max_backoff)
        self._session = session
        self._client_kwargs = dict(client_kwargs)
        self._sleep = sleep
        self._state = "new"
        self._task: asyncio.Task[None] | None = None
        self._stack: contextlib.AsyncExitStack | None = None
        self._client: Any = None

    @property
    def state(self) -> str:
        """``new``, ``starting``, ``running`` or ``closed``."""
        return self._state

    @property
    def source_count(self) -> int:
        return len(self._sources)

    async def start(self) -> None:
        """Open the AppConfig client, fetch every source once, then poll in the background."""
        if self._state == "closed":
            raise ClientClosedError("AppConfigExperiments is closed")
        if self._state != "new":
            return
        self._state = "starting"
        if self._sources:
            stack = contextlib.AsyncExitStack()
            first_round: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
            try:
                self._client = await stack.enter_async_context(self._create_client())
                self._watch_sizes(self._client)
                self._task = asyncio.create_task(
                    self._run(first_round), name="asyncexp-appconfig-poll"
                )
                done, _ = await asyncio.wait({first_round}, timeout=self._ready_timeout)
            except BaseException:
                task, self._task = self._task, None
                if task is not None:
                    task.cancel()
                    await asyncio.wait({task})
                self._client = None
                await stack.aclose()
                self._state = "new"
                raise
            self._stack = stack
            if not done:
                self._stats.start_timeouts += 1
                logger.warning(
                    "AppConfig: no answer for %d run source(s) within %.1fs; decisions use "
                    "the runs loaded so far until one arrives",
                    len(self._sources),
                    self._ready_timeout,
                )
        self._state = "running"

    @property
    def timeouts(self) -> dict[str, float | int | None]:
        """The bounds in force: connect/read timeouts, attempts and the start-up wait."""
        return {
            "connect_timeout": self._connect_timeout,
            "read_timeout": self._read_timeout,
            "max_attempts": self._max_attempts,
            "ready_timeout": self._ready_timeout,
        }

    def _watch_sizes(self, client: Any) -> None:
        events = getattr(getattr(client, "meta", None), "events", None)
        if events is not None:  # a real botocore client; test doubles have none
            events.register(RUN_PARSE_EVENT, check_run_response_size)

    async def _run(self, first_round: asyncio.Future[bool]) -> None:
        try:
            ok = await self.refresh()
        finally:
            if not first_round.done():
                first_round.set_result(True)
        await self._poll(0 if ok else 1)

    def _create_client(self) -> Any:
        session = self._session
        if session is None:
            try:
                module = importlib.import_module("aiobotocore.session")
            except ImportError as exc:
                raise MissingExtraError(
                    "polling AppConfig experiment runs needs aiobotocore: "
                    "pip install 'asyncexp[aws]'"
                ) from exc
            session = module.get_session()
        kwargs = dict(self._client_kwargs)
        if self._region is not None:
            kwargs.setdefault("region_name", self._region)
        if importlib.util.find_spec("aiobotocore") is not None:
            kwargs["config"] = botocore_config(
                connect_timeout=self._connect_timeout,
                read_timeout=self._read_timeout,
                max_attempts=self._max_attempts,
                user_config=kwargs.get("config"),
            )
        return session.create_client("appconfig", **kwargs)

    async def refresh(self) -> bool:
        """Fetch every source now; True when all of them succeeded."""
        if self._client is None:
            raise ClientStateError("refresh() needs start() and at least one RunSource")
        results = [await self._fetch(source) for source in self._sources]
        return all(results)

    async def _fetch(self, source: RunSource) -> bool:
        stats = self._stats
        stats.fetches += 1
        try:
            response = await self._client.get_experiment_run(
                ApplicationIdentifier=source.application,
                ExperimentDefinitionIdentifier=source.experiment_definition,
                Run=source.run,
            )
        except asyncio.CancelledError:
            raise
        except RunResponseTooLargeError as exc:
            stats.rejected_runs += 1
            stats.last_error = _short(exc)
            logger.warning(
                "ignoring experiment run from %s, keeping the loaded one: %s",
                source,
                stats.last_error,
            )
            return False
        except Exception as exc:
            stats.fetch_errors += 1
            stats.last_error = _short(exc)
            logger.warning("get_experiment_run %s failed: %s", source, stats.last_error)
            return False
        try:
            run = parse_experiment_run(response)
        except ConfigError as exc:
            stats.rejected_runs += 1
            stats.last_error = _short(exc)
            logger.warning(
                "ignoring invalid experiment run from %s, keeping the loaded one: %s",
                source,
                stats.last_error,
            )
            return False
        previous = self._keys.get(source)
        self._keys[source] = run.flag_key
        # the old key goes unless another source serves it
        if previous not in (None, run.flag_key) and previous not in self._keys.values():
            self._forget(previous)
        self._store(run)
        return True

    async def _poll(self, failures: int) -> None:
        while True:
            delay = min(self._interval * 2**failures, self._max_backoff)
            await self._sleep(delay)
            try:
                ok = await self.refresh()
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("AppConfig poll round crashed")
                ok = False
            failures = 0 if ok else min(failures + 1, 16)

    async def aclose(self) -> None:
        """Stop polling and close the AppConfig client; idempotent."""
        if self._state == "closed":
            return
        self._state = "closed"
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                current = asyncio.current_task()
                if current is not None and current.cancelling():
                    raise  # aclose itself was cancelled, not just the poller
        stack, self._stack = self._stack, None
        self._client = None
        if stack is not None:
            await stack.aclose()
