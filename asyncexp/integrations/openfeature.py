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
``rule_key``, ``variable_key`` when present. Each resolution is one ``decide``, with its
impression (``decide_options=`` applies to all); the inherited ``*_async`` resolvers
call the plain ones directly. ``track(name, context, details)`` → ``track_event(name,
tags)``, tags = ``details.attributes`` plus ``"value": details.value`` (which wins);
without a targeting key, or on failure, it logs and sends nothing: it never raises.

Lifecycle. By default the provider neither starts nor closes the client (``async with
client`` does): OpenFeature calls ``initialize``/``shutdown`` synchronously, often on
worker threads. They (un)subscribe to datafile updates, each emitted as
PROVIDER_CONFIGURATION_CHANGED. With ``owns_client=True`` (create the provider inside the
client's loop) they also start and close the client on that loop: a worker thread waits;
on the loop thread it is scheduled and ``await provider.wait_client()`` waits.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
from collections.abc import Coroutine, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from asyncexp.errors import ClientStateError, MissingExtraError
from asyncexp.flags.notifications import NotificationType
from asyncexp.integrations.openfeature_resolution import FlagResolver, Metadict, _attributes

try:
    from openfeature.evaluation_context import EvaluationContext
    from openfeature.event import ProviderEventDetails
    from openfeature.flag_evaluation import FlagResolutionDetails, FlagType, FlagValueType
    from openfeature.provider import AbstractProvider, Metadata
    from openfeature.track import TrackingEventDetails
except ImportError as exc:  # pragma: no cover - exercised with the package hidden
    raise MissingExtraError(
        "the OpenFeature provider needs openfeature-sdk: pip install 'asyncexp[openfeature]'"
    ) from exc

if TYPE_CHECKING:
    from asyncexp.client import Client

__all__ = ["AsyncExpProvider"]

logger = logging.getLogger("asyncexp.integrations.openfeature")


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
    ) -> None:
        super().__init__()
        self._client = client
        self._resolver = FlagResolver(
            client, list(decide_options) if decide_options is not None else None
        )
        self._listener: int | None = None
        self._pending: list[concurrent.futures.Future[None]] = []
        self._loop: asyncio.AbstractEventLoop | None = None
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
        """Subscribe to datafile updates; with ``owns_client``, start the client."""
        if self._listener is None:
            self._listener = self._client.notifications.add_listener(
                NotificationType.CONFIG_UPDATE, self._config_updated
            )
        if self._loop is not None:
            self._on_client_loop(self._client.start())

    def shutdown(self) -> None:
        """Unsubscribe; with ``owns_client``, close the client (draining its events)."""
        if self._listener is not None:
            self._client.notifications.remove_listener(self._listener)
            self._listener = None
        if self._loop is not None and not self._client.closed:
            self._on_client_loop(self._client.aclose())

    async def wait_client(self) -> None:
        """Await the client start or close that ``initialize``/``shutdown`` scheduled
        when they were called on the event loop thread."""
        while self._pending:
            await asyncio.wrap_future(self._pending.pop(0))

    def _on_client_loop(self, coro: Coroutine[Any, Any, None]) -> None:
        loop = self._loop
        assert loop is not None
        if not loop.is_running():  # nothing would ever run it: do not block forever
            coro.close()
            logger.warning("the client's event loop is not running; lifecycle call skipped")
            return
        future = asyncio.run_coroutine_threadsafe(coro, loop)
        if _running_loop() is loop:
            self._pending.append(future)  # the loop thread must not block on its own work
        else:
            future.result()  # an OpenFeature worker thread: done when this returns

    def _config_updated(self) -> None:
        config = self._client.config
        revision: Metadict = {"revision": config.revision} if config is not None else {}
        self.emit_provider_configuration_changed(ProviderEventDetails(metadata=revision))

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
