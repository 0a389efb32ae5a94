"""An OpenFeature provider backed by an asyncexp ``Client``; needs ``asyncexp[openfeature]``.

    async with Client(sdk_key="…") as client:
        api.set_provider(AsyncExpProvider(client))
        ctx = EvaluationContext("u123", {"country": "US"})
        on = await api.get_client().get_boolean_value_async("checkout", False, ctx)

Flag keys. ``"<flag>"``: boolean → ``decision.enabled``; string → the variation key
(the caller's default when none was served); object → all variables as a dict; integer
and float → TYPE_MISMATCH. ``"<flag>.<variable>"``: that variable. A flag key is always
the flag; otherwise the key splits at the last dot whose prefix is a flag key.

Types, checked against the datafile's declaration before deciding (a bad request sends no
impression): boolean ← ``boolean``, string ← ``string``, integer ← ``integer``, float ←
``double`` or ``integer`` (widened), object ← ``json`` (also a string with subType json)
whose value is an object or array. A datafile value that does not cast: PARSE_ERROR.

Reasons, from the rule that served the decision: experiment or holdout → SPLIT; delivery
rule → TARGETING_MATCH, or DISABLED when its variation is disabled (as "Everyone Else:
off" of a flag turned off); a variation without a rule (flag-level forced decision) →
TARGETING_MATCH; no variation → DEFAULT (the flag's default variables, not enabled).
Errors give the caller's default with reason ERROR: PROVIDER_NOT_READY (no datafile
yet), TARGETING_KEY_MISSING (none or empty), FLAG_NOT_FOUND (unknown flag or variable),
TYPE_MISMATCH, PARSE_ERROR, GENERAL (closed client, unexpected exception: logged).

Context: ``targeting_key`` is the user id; str, bool, int and float attributes are
passed on, others (datetime, lists, mappings) skipped with a debug log: audiences
compare scalars only. Flag metadata: ``flag_key``, ``enabled``, and ``variation_key``,
``rule_key``, ``variable_key`` when present. Each resolution is one ``decide``
(``decide_options=`` applies to all); the inherited ``*_async`` resolvers call the
plain ones directly. Impressions (``impressions=``): by default one per flag per
evaluation context and datafile revision, so reading five variables of a flag sends
one; ``"every_read"`` sends one per resolution (see
:mod:`~asyncexp.integrations.openfeature_resolution`). ``track(name, context,
details)`` → ``track_event(name, tags)``, tags = ``details.attributes`` plus
``"value": details.value`` (which wins); without a targeting key, or on failure, it
logs and sends nothing: it never raises.

Status and events (OpenFeature 2.4, 2.8, 5.1). ``initialize`` subscribes to datafile
updates and to the source's health (``client.datafile_status``), then waits at most
``init_timeout`` seconds for a first datafile:

============================================  =========================================
situation                                     provider status / event
============================================  =========================================
a datafile is in use (and, with               READY (``initialize`` returns)
``owns_client``, the client started)
no datafile by ``init_timeout``, or called    ``initialize`` raises ProviderNotReadyError
on the event loop thread without one, or      → ERROR (PROVIDER_NOT_READY); READY
``owns_client`` started from the loop thread  follows the first datafile / the start
the client is closed, has no datafile and     ``initialize`` raises ProviderFatalError
no source, or its start failed                → FATAL
a fetch fails while a datafile is in use      STALE (message: the error kind)
``error_after_failures`` (3) fetches in a     ERROR (GENERAL); and without any
row fail                                      datafile, ERROR at the first failure
the next fetch succeeds                       READY
a new revision                                CONFIGURATION_CHANGED, ``flags_changed``
                                              = flag keys added, removed or changed
                                              (``changed_flag_keys``), metadata
                                              ``revision``
============================================  =========================================

As the LaunchDarkly and flagd providers do, a failing source is never FATAL: the last
good datafile keeps answering, and the status recovers with the source. A static
datafile (no source) is READY from ``initialize`` on and never STALE.

Lifecycle. By default the provider neither starts nor closes the client (``async with
client`` does): OpenFeature calls ``initialize``/``shutdown`` synchronously, often on
worker threads. With ``owns_client=True`` (create the provider inside the client's
loop) they also start and close the client on that loop: a worker thread waits; on
the loop thread it is scheduled and ``await provider.wait_client()`` waits.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading
from collections.abc import Coroutine, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal

from asyncexp.core.flags.revision_diff import changed_flag_keys
from asyncexp.errors import ClientStateError, ConfigError, MissingExtraError
from asyncexp.flags.notifications import NotificationType
from asyncexp.integrations.openfeature_resolution import (
    FlagResolver,
    ImpressionMode,
    Metadict,
    _attributes,
)

try:
    from openfeature.evaluation_context import EvaluationContext
    from openfeature.event import ProviderEventDetails
    from openfeature.exception import ErrorCode, ProviderFatalError, ProviderNotReadyError
    from openfeature.flag_evaluation import FlagResolutionDetails, FlagType, FlagValueType
    from openfeature.provider import AbstractProvider, Metadata
    from openfeature.track import TrackingEventDetails
except ImportError as exc:  # pragma: no cover - exercised with the package hidden
    raise MissingExtraError(
        "the OpenFeature provider needs openfeature-sdk: pip install 'asyncexp[openfeature]'"
    ) from exc

if TYPE_CHECKING:
    from asyncexp.aio.datafile_status import DatafileHealth
    from asyncexp.client import Client
    from asyncexp.core.flags.datafile import ProjectConfig

__all__ = ["AsyncExpProvider"]

logger = logging.getLogger("asyncexp.integrations.openfeature")

_State = Literal["not_ready", "ready", "stale", "error"]


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


class AsyncExpProvider(AbstractProvider):
    """OpenFeature provider deciding with ``client``; see the module docstring for the
    key, type, reason and lifecycle rules. ``AbstractProvider`` is the SDK's required
    base; resolving is the owned :class:`FlagResolver`'s."""

    def __init__(
        self,
        client: Client,
        *,
        decide_options: Iterable[str] | None = None,
        owns_client: bool = False,
        init_timeout: float = 10.0,
        error_after_failures: int = 3,
        impressions: ImpressionMode = "once_per_context",
    ) -> None:
        super().__init__()
        if isinstance(init_timeout, bool) or not isinstance(init_timeout, int | float):
            raise ConfigError(f"init_timeout must be a number, not {type(init_timeout).__name__}")
        if not init_timeout >= 0:  # NaN too
            raise ConfigError(f"init_timeout must be >= 0, not {init_timeout}")
        if not isinstance(owns_client, bool):
            raise ConfigError(f"owns_client must be a bool, not {owns_client!r}")
        options = None
        if decide_options is not None:
            if isinstance(decide_options, str | bytes) or not isinstance(decide_options, Iterable):
                raise ConfigError(
                    "decide_options must be an iterable of DecideOption values, not "
                    f"{type(decide_options).__name__}"
                )
            options = list(decide_options)
            if not all(isinstance(option, str) for option in options):
                raise ConfigError("decide_options must hold DecideOption (str) values only")
        if (
            isinstance(error_after_failures, bool)
            or not isinstance(error_after_failures, int)
            or error_after_failures < 1
        ):
            raise ConfigError(
                f"error_after_failures must be an int >= 1, not {error_after_failures!r}"
            )
        self._client = client
        self._resolver = FlagResolver(client, options, impressions)
        self._init_timeout = float(init_timeout)
        self._error_after = error_after_failures
        self._listener: int | None = None
        self._status_listener: int | None = None
        self._pending: list[concurrent.futures.Future[None]] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        # status: guarded by _lock; events are emitted only once initialize has ended
        self._lock = threading.Lock()
        self._state: _State = "not_ready"
        self._initialized = False
        self._started = not owns_client  # with owns_client: READY waits for the start
        self._last_config: ProjectConfig | None = None
        self._has_config = threading.Event()
        if owns_client:
            self._loop = _running_loop()
            if self._loop is None:
                raise ClientStateError("owns_client=True: create the provider inside the loop")

    @property
    def client(self) -> Client:
        return self._client

    def get_metadata(self) -> Metadata:
        return Metadata(name="asyncexp")

    # -- resolution (the resolver's) ----------------------------------------
    def resolve_boolean_details(
        self,
        flag_key: str,
        default_value: bool,
        evaluation_context: EvaluationContext | None = None,
    ) -> FlagResolutionDetails[bool]:
        return self._resolver.resolve(FlagType.BOOLEAN, flag_key, default_value, evaluation_context)

    def resolve_string_details(
        self, flag_key: str, default_value: str, evaluation_context: EvaluationContext | None = None
    ) -> FlagResolutionDetails[str]:
        return self._resolver.resolve(FlagType.STRING, flag_key, default_value, evaluation_context)

    def resolve_integer_details(
        self, flag_key: str, default_value: int, evaluation_context: EvaluationContext | None = None
    ) -> FlagResolutionDetails[int]:
        return self._resolver.resolve(FlagType.INTEGER, flag_key, default_value, evaluation_context)

    def resolve_float_details(
        self,
        flag_key: str,
        default_value: float,
        evaluation_context: EvaluationContext | None = None,
    ) -> FlagResolutionDetails[float]:
        return self._resolver.resolve(FlagType.FLOAT, flag_key, default_value, evaluation_context)

    def resolve_object_details(
        self,
        flag_key: str,
        default_value: Sequence[FlagValueType] | Mapping[str, FlagValueType],
        evaluation_context: EvaluationContext | None = None,
    ) -> FlagResolutionDetails[Sequence[FlagValueType] | Mapping[str, FlagValueType]]:
        return self._resolver.resolve(FlagType.OBJECT, flag_key, default_value, evaluation_context)

    # -- lifecycle ----------------------------------------------------------
    def initialize(self, evaluation_context: EvaluationContext) -> None:
        """Subscribe to datafile updates and health; with ``owns_client``, start the
        client; wait (bounded) for a first datafile. See the module docstring."""
        client = self._client
        self._subscribe()
        if client.closed:
            self._end_init(failed=True)
            raise ProviderFatalError("the asyncexp client is closed")
        # A thread running an event loop must not block: the datafile could never come.
        on_loop_thread = _running_loop() is not None
        if self._loop is not None:
            try:
                self._on_client_loop(client.start(), on_started=self._client_started)
            except Exception as exc:
                self._end_init(failed=True)
                raise ProviderFatalError(f"starting the asyncexp client failed: {exc}") from exc
        if client.config is None and client.datafile_status is None:
            self._end_init(failed=True)
            raise ProviderFatalError("the asyncexp client has no datafile and no datafile source")
        if client.config is None and not on_loop_thread:
            self._has_config.wait(self._init_timeout)
        if not self._end_init():
            if on_loop_thread and self._loop is not None and client.config is not None:
                raise ProviderNotReadyError(
                    "the asyncexp client is starting on this loop; READY follows its start"
                )
            if on_loop_thread:
                raise ProviderNotReadyError(
                    "no datafile yet (initialize ran on an event loop thread, so it could "
                    "not wait); READY follows the first one"
                )
            raise ProviderNotReadyError(
                f"no datafile within {self._init_timeout:g}s; READY follows the first one"
            )

    def shutdown(self) -> None:
        """Unsubscribe; with ``owns_client``, close the client (draining its events)."""
        self._unsubscribe()
        with self._lock:
            self._initialized = False
            self._state = "not_ready"
        if self._loop is not None and not self._client.closed:
            self._on_client_loop(self._client.aclose())

    async def wait_client(self) -> None:
        """Await the client start or close that ``initialize``/``shutdown`` scheduled
        when they were called on the event loop thread."""
        while self._pending:
            await asyncio.wrap_future(self._pending.pop(0))

    def _subscribe(self) -> None:
        client = self._client
        if self._listener is None:
            self._last_config = client.config
            if client.config is not None:
                self._has_config.set()
            self._listener = client.notifications.add_listener(
                NotificationType.CONFIG_UPDATE, self._config_updated
            )
        status = client.datafile_status
        if self._status_listener is None and status is not None:
            self._status_listener = status.add_listener(self._health_changed)

    def _unsubscribe(self) -> None:
        if self._listener is not None:
            self._client.notifications.remove_listener(self._listener)
            self._listener = None
        status = self._client.datafile_status
        if self._status_listener is not None and status is not None:
            status.remove_listener(self._status_listener)
        self._status_listener = None

    def _end_init(self, *, failed: bool = False) -> bool:
        """initialize is ending: True (READY, the SDK emits it) or False (ERROR).
        Decided under the lock, so an update arriving now is never lost."""
        with self._lock:
            self._initialized = True
            ready = not failed and self._client.config is not None and self._started
            self._state = "ready" if ready else "error"
            return ready

    def _assess(self, fetched: bool) -> tuple[_State, str | None]:
        """The status the client's state calls for, with a message for STALE/ERROR;
        ``fetched``: a revision just arrived, so the source works (its health is
        recorded only once the fetch has ended)."""
        client = self._client
        status = client.datafile_status
        health: DatafileHealth | None = status.current if status is not None else None
        failing = not fetched and health is not None and health.state == "interrupted"
        if client.config is None or not self._started:
            if failing and health is not None:
                return "error", f"no datafile yet: fetching failed ({health.error})"
            return self._state if self._state != "ready" else "not_ready", None
        if failing and health is not None:
            message = (
                f"datafile source failing ({health.error}, {health.failures} in a row); "
                f"serving revision {client.config.revision}"
            )
            return ("error" if health.failures >= self._error_after else "stale"), message
        return "ready", None

    def _update(self, changed: list[str] | None = None) -> None:
        """Move to the assessed status, emitting its event; ``changed``: a new revision."""
        with self._lock:
            if not self._initialized:
                return
            state, message = self._assess(changed is not None)
            previous, self._state = self._state, state
            config = self._client.config
            metadata: Metadict = {"revision": config.revision} if config is not None else {}
            if state != previous:
                if state == "ready":
                    self.emit_provider_ready(ProviderEventDetails(metadata=metadata))
                elif state == "stale":
                    self.emit_provider_stale(ProviderEventDetails(message=message))
                elif state == "error":
                    code = ErrorCode.PROVIDER_NOT_READY if config is None else ErrorCode.GENERAL
                    self.emit_provider_error(ProviderEventDetails(message=message, error_code=code))
            first_ready = state == "ready" and previous != "ready"  # READY says it all
            if changed is not None and config is not None and not first_ready:
                self.emit_provider_configuration_changed(
                    ProviderEventDetails(flags_changed=changed, metadata=metadata)
                )

    def _config_updated(self) -> None:
        config = self._client.config
        if config is None:
            return
        changed = changed_flag_keys(self._last_config, config)
        self._last_config = config
        self._has_config.set()
        self._update(changed)

    def _health_changed(self, health: DatafileHealth) -> None:
        self._update()

    def _client_started(self, future: concurrent.futures.Future[None]) -> None:
        if future.cancelled() or future.exception() is not None:
            return
        with self._lock:
            self._started = True
        self._update()

    def _on_client_loop(
        self,
        coro: Coroutine[Any, Any, None],
        on_started: Any = None,
    ) -> None:
        loop = self._loop
        assert loop is not None
        if not loop.is_running():  # nothing would ever run it: do not block forever
            coro.close()
            logger.warning("the client's event loop is not running; lifecycle call skipped")
            return
        future = asyncio.run_coroutine_threadsafe(coro, loop)
        if _running_loop() is loop:
            if on_started is not None:
                future.add_done_callback(on_started)
            self._pending.append(future)  # the loop thread must not block on its own work
        else:
            future.result()  # an OpenFeature worker thread: done when this returns
            if on_started is not None:
                on_started(future)

    # -- tracking -----------------------------------------------------------
    def track(
        self,
        tracking_event_name: str,
        evaluation_context: EvaluationContext | None = None,
        tracking_event_details: TrackingEventDetails | None = None,
    ) -> None:
        """Send a conversion for the context's user; see the module docstring."""
        context = evaluation_context or EvaluationContext()
        if not context.targeting_key:
            logger.warning("not tracking %r: no targeting key (user id)", tracking_event_name)
            return
        tags: dict[str, Any] | None = None
        if tracking_event_details is not None:
            tags = dict(tracking_event_details.attributes)
            if tracking_event_details.value is not None:
                tags["value"] = tracking_event_details.value
        try:
            user = self._client.create_user_context(
                context.targeting_key, _attributes(context.attributes)
            )
            user.track_event(tracking_event_name, tags)
        except Exception:  # tracking is fire-and-forget for the caller, like the client's
            logger.exception("tracking %r failed", tracking_event_name)
