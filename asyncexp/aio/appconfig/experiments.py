"""The async shell for AppConfig experiment runs: loading, polling, deciding, recording.

:class:`AppConfigExperiments` is what the client exposes as ``client.appconfig``.

* Runs come from :meth:`~AppConfigExperiments.load_run` (a ``get_experiment_run``
  dict) or from polling the AppConfig control plane with aiobotocore (the
  optional extra ``asyncexp[aws]``, whose pinned botocore has the experiment
  operations). aiobotocore is imported only by :meth:`start`, and only when
  there is something to poll; its absence is reported by the constructor as
  :class:`MissingExtraError`. Importing botocore and loading its service model
  happen once, in ``start``, on the event loop (tens of milliseconds).
* Polling works like a datafile source: the first fetch happens in ``start``,
  then every ``poll_interval`` seconds, doubling up to ``max_backoff`` after a
  failed round. A failed request or an invalid run is logged and counted and
  **never replaces the run already loaded**.
* Bounds (:mod:`.limits`): each request has ``connect_timeout`` (5 s) and
  ``request_timeout`` (the read timeout, 10 s) and at most ``max_attempts`` (2)
  tries; ``start`` waits for the first round at most ``ready_timeout`` seconds
  (10, like the client's; None waits for it), then logs and lets it finish in
  the background. An answer over 4 MiB is refused unparsed.
* :meth:`~AppConfigExperiments.decide_treatment` is a plain call into the pure
  core (:func:`asyncexp.core.appconfig.assign`); runs are kept by flag key.
* Every assigned decision (overrides included) is submitted to the collector
  as one assignment-log record (``AWS.AppConfig.TreatmentAssignment``) stamped
  by the injected clock. A collector that raises is counted in
  ``stats.assignments_dropped`` and logged once; the decision is still returned.

Logging goes to ``asyncexp.appconfig``. AWS credentials given in
``client_kwargs`` (or found by botocore) are never logged, shown in ``repr``
or put in exception messages.

The value types live in :mod:`asyncexp.aio.appconfig.types`; starting, polling
and closing belong to the :class:`~asyncexp.aio.appconfig.polling.AppConfigPoller`
this facade owns (it hands every fetched run back to ``_store``).
"""

from __future__ import annotations

import asyncio
import importlib.util
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from types import TracebackType
from typing import Any, Self

from asyncexp.aio.appconfig.limits import (
    DEFAULT_CONNECT_TIMEOUT,
    DEFAULT_MAX_ATTEMPTS,
    DEFAULT_READ_TIMEOUT,
)
from asyncexp.aio.appconfig.polling import AppConfigPoller
from asyncexp.aio.appconfig.types import AppConfigStats, AssignmentSink, RunSource, _short
from asyncexp.core.appconfig import (
    ExperimentRun,
    FeatureFlagsDocument,
    FlagEvaluation,
    TreatmentDecision,
    assign,
    build_assignment_event,
    parse_experiment_run,
    parse_feature_flags,
)
from asyncexp.errors import ConfigError, MissingExtraError, ValidationError

__all__ = [
    "AppConfigExperiments",
    "AppConfigStats",
    "AssignmentSink",
    "MissingExtraError",
    "RunSource",
]

logger = logging.getLogger("asyncexp.appconfig")


class AppConfigExperiments:
    """Experiment runs evaluated in-process; see the module docstring."""

    def __init__(
        self,
        collector: AssignmentSink | None = None,
        *,
        sources: Sequence[RunSource] = (),
        flags: FeatureFlagsDocument | Mapping[str, Any] | bytes | str | None = None,
        clock: Callable[[], float] = time.time,
        region: str | None = None,
        account_id: str | None = None,
        record_assignments: bool = True,
        poll_interval: float = 60.0,
        max_backoff: float = 600.0,
        session: Any = None,
        client_kwargs: Mapping[str, Any] | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        on_update: Callable[[ExperimentRun], None] | None = None,
        ready_timeout: float | None = 10.0,
        request_timeout: float = DEFAULT_READ_TIMEOUT,
        connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
        max_attempts: int = DEFAULT_MAX_ATTEMPTS,
    ) -> None:
        if not (poll_interval > 0 and max_backoff >= poll_interval):
            raise ConfigError("need poll_interval > 0 and max_backoff >= poll_interval")
        for source in sources:
            if not isinstance(source, RunSource):
                raise ConfigError(f"sources must hold RunSource, not {type(source).__name__}")
        if sources and session is None and importlib.util.find_spec("aiobotocore") is None:
            raise MissingExtraError(
                "polling AppConfig experiment runs needs aiobotocore: pip install 'asyncexp[aws]'"
            )
        self._collector = collector
        self._clock = clock
        self._region = region
        self._account_id = account_id
        self._record = record_assignments
        self._on_update = on_update
        self._runs: dict[str, ExperimentRun] = {}
        self._flags: FeatureFlagsDocument | None = None
        self._warned_drop = False
        self.stats = AppConfigStats()
        self._poller = AppConfigPoller(
            sources=sources,
            store=self._store,
            stats=self.stats,
            region=region,
            poll_interval=poll_interval,
            max_backoff=max_backoff,
            session=session,
            client_kwargs=client_kwargs or {},
            sleep=sleep,
            forget=self._forget,
            ready_timeout=ready_timeout,
            connect_timeout=connect_timeout,
            read_timeout=request_timeout,
            max_attempts=max_attempts,
        )
        if flags is not None:
            self.load_flags(flags)

    def __repr__(self) -> str:
        return (
            f"<AppConfigExperiments state={self._poller.state} runs={sorted(self._runs)} "
            f"sources={self._poller.source_count}>"
        )

    # -- lifecycle (the poller's) ----------------------------------------------------------

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def start(self) -> None:
        """Open the AppConfig client, fetch every source once, then poll in the background."""
        await self._poller.start()

    async def refresh(self) -> bool:
        """Fetch every source now; True when all of them succeeded."""
        return await self._poller.refresh()

    async def aclose(self) -> None:
        """Stop polling and close the AppConfig client; idempotent."""
        await self._poller.aclose()

    # -- loading -------------------------------------------------------------------------

    def load_run(self, data: Mapping[str, Any]) -> ExperimentRun:
        """Validate a ``get_experiment_run`` dict and serve it for its flag key."""
        run = parse_experiment_run(data)
        self._store(run)
        return run

    def load_flags(
        self, document: FeatureFlagsDocument | Mapping[str, Any] | bytes | str
    ) -> FeatureFlagsDocument:
        """Load the ``AWS.AppConfig.FeatureFlags`` document used when nobody is assigned."""
        if not isinstance(document, FeatureFlagsDocument):
            document = parse_feature_flags(document)
        self._flags = document
        return document

    @property
    def runs(self) -> Mapping[str, ExperimentRun]:
        """The loaded runs by flag key (a snapshot)."""
        return dict(self._runs)

    def _forget(self, flag_key: str) -> None:
        """Drop the run a source served under ``flag_key`` before it changed key."""
        if self._runs.pop(flag_key, None) is not None:
            logger.info("experiment run for flag %r dropped: its source moved on", flag_key)

    def _store(self, run: ExperimentRun) -> None:
        previous = self._runs.get(run.flag_key)
        if previous == run:
            return
        self._runs[run.flag_key] = run
        self.stats.updates += 1
        logger.info(
            "experiment run %s for flag %r is %s at %s%% exposure",
            run.identity,
            run.flag_key,
            run.status.value,
            run.exposure_percentage,
        )
        if self._on_update is not None:
            try:
                self._on_update(run)
            except Exception:
                logger.exception("on_update listener failed for run %s", run.identity)

    # -- deciding ------------------------------------------------------------------------

    def decide_treatment(
        self,
        entity_id: str,
        context: Mapping[str, Any] | None = None,
        *,
        flag_key: str | None = None,
    ) -> TreatmentDecision:
        """Assign ``entity_id`` (never awaits); ``flag_key`` picks the run if several are loaded."""
        if flag_key is None:
            if len(self._runs) > 1:
                raise ValidationError(
                    f"{len(self._runs)} runs are loaded ({sorted(self._runs)}); pass flag_key="
                )
            run = next(iter(self._runs.values()), None)
        else:
            run = self._runs.get(flag_key)
        decision = assign(run, entity_id, context, flags=self._flags, flag_key=flag_key)
        if decision.assigned and self._record and self._collector is not None:
            self._submit(decision, entity_id)
        return decision

    def evaluate_flag(
        self, flag_key: str, context: Mapping[str, Any] | None = None
    ) -> FlagEvaluation | None:
        """Serve a (multi-variant) flag of the loaded document; ``None`` if unknown."""
        if self._flags is None:
            return None
        return self._flags.evaluate(flag_key, context or {})

    def _submit(self, decision: TreatmentDecision, entity_id: str) -> None:
        assert self._collector is not None
        try:
            event = build_assignment_event(
                decision,
                entity_id,
                self._clock(),
                region=self._region,
                account_id=self._account_id,
            )
            self._collector.submit(event)
        except Exception as exc:
            self.stats.assignments_dropped += 1
            self.stats.last_error = _short(exc)
            level = logging.DEBUG if self._warned_drop else logging.WARNING
            self._warned_drop = True
            logger.log(level, "assignment event dropped: %s", self.stats.last_error)
        else:
            self.stats.assignments_recorded += 1
