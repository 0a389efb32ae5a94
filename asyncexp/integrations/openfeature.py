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
from typing import TYPE_CHECKING, Any, TypeVar

from asyncexp.errors import ClientStateError, MissingExtraError
from asyncexp.notifications import NotificationType

try:
    from openfeature.evaluation_context import EvaluationContext
    from openfeature.event import ProviderEventDetails
    from openfeature.exception import (
        ErrorCode,
        FlagNotFoundError,
        GeneralError,
        OpenFeatureError,
        ParseError,
        ProviderNotReadyError,
        TargetingKeyMissingError,
        TypeMismatchError,
    )
    from openfeature.flag_evaluation import FlagResolutionDetails, FlagType, FlagValueType, Reason
    from openfeature.provider import AbstractProvider, Metadata
    from openfeature.track import TrackingEventDetails
except ImportError as exc:  # pragma: no cover - exercised with the package hidden
    raise MissingExtraError(
        "the OpenFeature provider needs openfeature-sdk: pip install 'asyncexp[openfeature]'"
    ) from exc

if TYPE_CHECKING:
    from asyncexp.client import Client
    from asyncexp.core.entities import FeatureFlag
    from asyncexp.decision import Decision

__all__ = ["AsyncExpProvider"]

logger = logging.getLogger("asyncexp.integrations.openfeature")

T = TypeVar("T")
Metadict = dict[str, bool | int | float | str]

# Declared variable types each OpenFeature type accepts (int widens to float, losslessly
# for the values a datafile holds; a double never narrows to int).
_ACCEPTS: dict[FlagType, tuple[str, ...]] = {
    FlagType.BOOLEAN: ("boolean",),
    FlagType.STRING: ("string",),
    FlagType.INTEGER: ("integer",),
    FlagType.FLOAT: ("double", "integer"),
    FlagType.OBJECT: ("json",),
}


def _split_key(key: str, flags: Mapping[str, object]) -> tuple[str, str | None]:
    if key in flags:
        return key, None
    head = key
    while "." in head:
        head, _, _ = head.rpartition(".")
        if head in flags:
            return head, key[len(head) + 1 :]
    return key, None


def _attributes(attributes: Mapping[str, object]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in attributes.items():
        if isinstance(value, str | bool | int | float):
            out[key] = value
        else:
            logger.debug("attribute %r skipped: %s is not a scalar", key, type(value).__name__)
    return out


def _reason(flag: FeatureFlag, decision: Decision) -> Reason:
    if decision.variation_key is None:
        return Reason.DEFAULT
    if decision.rule_key is None:
        return Reason.TARGETING_MATCH  # a flag-level forced decision
    if any(rule.key == decision.rule_key for rule in flag.rollout_rules):
        return Reason.TARGETING_MATCH if decision.enabled else Reason.DISABLED
    return Reason.SPLIT  # experiments and holdouts assign by bucketing


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


class AsyncExpProvider(AbstractProvider):
    """OpenFeature provider deciding with ``client``; see the module docstring for the
    key, type, reason and lifecycle rules."""

    def __init__(
        self,
        client: Client,
        *,
        decide_options: Iterable[str] | None = None,
        owns_client: bool = False,
    ) -> None:
        super().__init__()
        self._client = client
        self._options = list(decide_options) if decide_options is not None else None
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

    # -- resolution ---------------------------------------------------------
    def resolve_boolean_details(
        self,
        flag_key: str,
        default_value: bool,
        evaluation_context: EvaluationContext | None = None,
    ) -> FlagResolutionDetails[bool]:
        return self._resolve(FlagType.BOOLEAN, flag_key, default_value, evaluation_context)

    def resolve_string_details(
        self, flag_key: str, default_value: str, evaluation_context: EvaluationContext | None = None
    ) -> FlagResolutionDetails[str]:
        return self._resolve(FlagType.STRING, flag_key, default_value, evaluation_context)

    def resolve_integer_details(
        self, flag_key: str, default_value: int, evaluation_context: EvaluationContext | None = None
    ) -> FlagResolutionDetails[int]:
        return self._resolve(FlagType.INTEGER, flag_key, default_value, evaluation_context)

    def resolve_float_details(
        self,
        flag_key: str,
        default_value: float,
        evaluation_context: EvaluationContext | None = None,
    ) -> FlagResolutionDetails[float]:
        return self._resolve(FlagType.FLOAT, flag_key, default_value, evaluation_context)

    def resolve_object_details(
        self,
        flag_key: str,
        default_value: Sequence[FlagValueType] | Mapping[str, FlagValueType],
        evaluation_context: EvaluationContext | None = None,
    ) -> FlagResolutionDetails[Sequence[FlagValueType] | Mapping[str, FlagValueType]]:
        return self._resolve(FlagType.OBJECT, flag_key, default_value, evaluation_context)

    def _resolve(
        self, kind: FlagType, key: str, default: T, context: EvaluationContext | None
    ) -> FlagResolutionDetails[T]:
        metadata: Metadict = {}
        try:
            value, reason, variant = self._evaluate(kind, key, context, metadata)
        except OpenFeatureError as err:
            return FlagResolutionDetails(
                default, err.error_code, err.error_message, Reason.ERROR, flag_metadata=metadata
            )
        except Exception as err:  # a resolution returns the default, never raises
            logger.exception("resolving flag %r failed", key)
            message = f"{type(err).__name__}: {err}"
            return FlagResolutionDetails(
                default, ErrorCode.GENERAL, message, Reason.ERROR, flag_metadata=metadata
            )
        if value is None:  # a string request for a flag that served no variation
            value = default
        return FlagResolutionDetails(value, reason=reason, variant=variant, flag_metadata=metadata)

    def _evaluate(
        self, kind: FlagType, key: str, context: EvaluationContext | None, metadata: Metadict
    ) -> tuple[Any, Reason, str | None]:
        client = self._client
        config = client.config
        if client.closed:
            raise GeneralError("the asyncexp client is closed")
        if config is None:
            raise ProviderNotReadyError("the asyncexp client has no datafile yet")
        context = context or EvaluationContext()
        user_id = context.targeting_key
        if not user_id:
            raise TargetingKeyMissingError("asyncexp needs the targeting key as the user id")
        flag_key, variable = _split_key(key, config.flags)
        flag = config.flags.get(flag_key)
        if flag is None:
            raise FlagNotFoundError(f"no flag {flag_key!r} in datafile revision {config.revision}")
        if variable is None:
            if kind in (FlagType.INTEGER, FlagType.FLOAT):
                raise TypeMismatchError(f"flag {key!r} is not a number; ask for '{key}.<variable>'")
        else:
            declared = next((v.type for v in flag.variables if v.key == variable), None)
            if declared is None:
                raise FlagNotFoundError(f"flag {flag_key!r} has no variable {variable!r}")
            if declared not in _ACCEPTS[kind]:
                raise TypeMismatchError(f"variable {key!r} is {declared}, not {kind.lower()}")
        user = client.create_user_context(user_id, _attributes(context.attributes))
        decision = user.decide(flag_key, self._options)
        metadata.update(flag_key=flag_key, enabled=decision.enabled)
        if decision.variation_key is not None:
            metadata["variation_key"] = decision.variation_key
        if decision.rule_key is not None:
            metadata["rule_key"] = decision.rule_key
        value: Any
        if variable is None:
            bare = {FlagType.BOOLEAN: decision.enabled, FlagType.STRING: decision.variation_key}
            value = bare.get(kind, decision.variables)  # object: every variable
        else:
            metadata["variable_key"] = variable
            if variable not in decision.variables:
                raise GeneralError("variables are excluded by DecideOption.EXCLUDE_VARIABLES")
            value = decision.variables[variable]
            if value is None:
                raise ParseError(f"variable {key!r}: its datafile value does not cast")
            if kind is FlagType.FLOAT:
                value = float(value)
            elif kind is FlagType.OBJECT and not isinstance(value, dict | list):
                raise TypeMismatchError(f"variable {key!r} holds a JSON {type(value).__name__}")
        return value, _reason(flag, decision), decision.variation_key

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
