"""``FlagResolver``: how ``AsyncExpProvider`` resolves flags to values.

Rules: the provider owns one resolver and hands every ``resolve_*_details``
call to :meth:`FlagResolver.resolve`; a resolution is one ``decide`` on the
client and never raises: errors become the caller's default with reason
ERROR (the module docstring of :mod:`asyncexp.integrations.openfeature`
states which).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from asyncexp.errors import MissingExtraError

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

__all__ = ["FlagResolver", "Metadict"]

# The provider's logger: resolution failures were always logged under it.
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


class FlagResolver:
    """Resolves one flag (or variable) request with one ``decide`` on ``client``."""

    __slots__ = ("_client", "_options")

    def __init__(self, client: Client, options: list[str] | None) -> None:
        self._client = client
        self._options = options

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
