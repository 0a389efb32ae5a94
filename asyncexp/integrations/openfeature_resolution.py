"""``FlagResolver``: how ``AsyncExpProvider`` resolves flags to values.

Rules: the provider owns one resolver and hands every ``resolve_*_details``
call to :meth:`FlagResolver.resolve`; a resolution is one ``decide`` on the
client and never raises: errors become the caller's default with reason
ERROR (the module docstring of :mod:`asyncexp.integrations.openfeature`
states which).

Impressions (``impressions=``): ``"once_per_context"`` (the default) sends one
impression per flag per evaluation context: the first resolution of a flag for a
context (targeting key plus its scalar attributes, typed) in a datafile revision
decides with its impression; later ones, for the same or another variable of that
flag, decide with ``DISABLE_DECISION_EVENT``, unless the decision changed (a forced
decision, a user profile), which decides again with its impression. The memory is
an LRU of ``IMPRESSION_MEMORY`` (flag, context) pairs, so a context forgotten gets
one more. ``"every_read"`` sends one per resolution, as each ``decide`` does.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from asyncexp.errors import ConfigError, MissingExtraError

try:
    from openfeature.evaluation_context import EvaluationContext
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
    from openfeature.flag_evaluation import FlagResolutionDetails, FlagType, Reason
except ImportError as exc:  # pragma: no cover - exercised with the package hidden
    raise MissingExtraError(
        "the OpenFeature provider needs openfeature-sdk: pip install 'asyncexp[openfeature]'"
    ) from exc

if TYPE_CHECKING:
    from asyncexp.client import Client
    from asyncexp.core.flags.entities import FeatureFlag
    from asyncexp.flags.decision import Decision
    from asyncexp.flags.user_context import UserContext

__all__ = ["IMPRESSION_MEMORY", "FlagResolver", "ImpressionMode", "Metadict"]

# The provider's logger: resolution failures were always logged under it.
logger = logging.getLogger("asyncexp.integrations.openfeature")

T = TypeVar("T")
Metadict = dict[str, bool | int | float | str]
ImpressionMode = Literal["once_per_context", "every_read"]
IMPRESSION_MEMORY = 10_000
_NO_EVENT = "DISABLE_DECISION_EVENT"

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


class _Impressions:
    """Which (revision, flag, context) got its impression, and the decision it saw."""

    def __init__(self, limit: int) -> None:
        self._seen: OrderedDict[tuple[Any, ...], tuple[str | None, str | None]] = OrderedDict()
        self._limit = limit
        self._lock = threading.Lock()

    def get(self, key: tuple[Any, ...]) -> tuple[str | None, str | None] | None:
        with self._lock:
            found = self._seen.get(key)
            if found is not None:
                self._seen.move_to_end(key)
            return found

    def put(self, key: tuple[Any, ...], outcome: tuple[str | None, str | None]) -> None:
        with self._lock:
            self._seen[key] = outcome
            self._seen.move_to_end(key)
            while len(self._seen) > self._limit:
                self._seen.popitem(last=False)


class FlagResolver:
    """Resolves one flag (or variable) request with one ``decide`` on ``client``."""

    __slots__ = ("_client", "_impressions", "_options")

    def __init__(
        self,
        client: Client,
        options: list[str] | None,
        impressions: ImpressionMode = "once_per_context",
    ) -> None:
        if impressions not in ("once_per_context", "every_read"):
            raise ConfigError(
                f"impressions must be 'once_per_context' or 'every_read', not {impressions!r}"
            )
        self._client = client
        self._options = options
        self._impressions = _Impressions(IMPRESSION_MEMORY) if impressions != "every_read" else None

    def resolve(
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
        attributes = _attributes(context.attributes)
        user = client.create_user_context(user_id, attributes)
        decision = self._decide(user, config.revision, flag_key, user_id, attributes)
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

    def _decide(
        self,
        user: UserContext,
        revision: str,
        flag_key: str,
        user_id: str,
        attributes: dict[str, Any],
    ) -> Decision:
        memory = self._impressions
        options = self._options
        if memory is None or (options is not None and _NO_EVENT in options):
            return user.decide(flag_key, options)
        key = (
            revision,
            flag_key,
            user_id,
            tuple(sorted((k, type(v).__name__, v) for k, v in attributes.items())),
        )
        seen = memory.get(key)
        if seen is not None:
            quiet = user.decide(flag_key, [*(options or ()), _NO_EVENT])
            if (quiet.variation_key, quiet.rule_key) == seen:
                return quiet
        decision = user.decide(flag_key, options)
        memory.put(key, (decision.variation_key, decision.rule_key))
        return decision
