"""The Analysys record envelope: client settings, the client's own xcontext keys, assembly.

Every builder in :mod:`asyncexp.core.analytics.records` ends in :func:`assemble_record`,
which adds ``$lib``, ``$lib_version``, ``$platform``, ``$debug`` and
``$is_login`` (and ``$original_id`` on ``$alias``) after the caller's properties
and enforces the xcontext key limit.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, NamedTuple

from asyncexp.core.analytics.validation import (
    MAX_XCONTEXT_KEYS,
    MEMO_LIMIT,
    check_app_key,
    check_debug,
    check_xwhen,
    normalize_platform,
)
from asyncexp.errors import ValidationError

__all__ = ["LIB", "LIB_VERSION", "BuiltRecord", "RecordSettings", "assemble_record"]

# ``$lib``/``$lib_version`` identify the sender. asyncexp sends the values of the
# Analysys Python SDK it replaces (4.1.1), so server-side reports grouped by
# library keep working; both are settings of RecordSettings.
LIB = "python"
LIB_VERSION = "4.1.1"


@dataclass(frozen=True, slots=True)
class RecordSettings:
    """Client-level values copied into every record.

    ``known_names``/``known_keys`` memoise event names and property keys that
    already passed the checks (bounded; an optimisation, never a rule change).
    """

    app_key: str
    debug: int = 0
    lib: str = LIB
    lib_version: str = LIB_VERSION
    known_names: set[str] = field(default_factory=set, compare=False, repr=False)
    known_keys: set[str] = field(default_factory=set, compare=False, repr=False)
    reserved_keys: int = 0
    """xcontext keys the shell adds after building (``$record_id``), counted in the limit."""
    tails: tuple[dict[str | None, dict[str, Any]], dict[str | None, dict[str, Any]]] = field(
        default_factory=lambda: ({}, {}), compare=False, repr=False
    )
    """The client's own xcontext keys per platform, built once each; indexed by ``is_login``
    (two flat dicts: a lookup by a ``(platform, is_login)`` tuple costs three times as much)."""

    def __post_init__(self) -> None:
        check_app_key(self.app_key)
        check_debug(self.debug)


class BuiltRecord(NamedTuple):
    """A record ready to queue (``None`` when there is nothing to send) and warnings."""

    record: dict[str, Any] | None
    warnings: list[str]


def _tail(settings: RecordSettings, platform: object, is_login: bool) -> dict[str, Any]:
    """The client's own xcontext keys, memoised per platform (bounded like the other memos)."""
    memo = settings.tails[is_login]
    if (platform is None or isinstance(platform, str)) and (found := memo.get(platform)):
        return found
    tail = {
        "$lib": settings.lib,
        "$lib_version": settings.lib_version,
        "$platform": normalize_platform(platform),
        "$debug": settings.debug,
        "$is_login": is_login,
    }
    if (platform is None or isinstance(platform, str)) and len(memo) < MEMO_LIMIT:
        memo[platform] = tail
    return tail


def assemble_record(
    settings: RecordSettings,
    xwho: str,
    xwhat: str,
    context: dict[str, Any],
    platform: object,
    is_login: object,
    xwhen: object,
    now_ms: int,
    original_id: str | None = None,
) -> dict[str, Any]:
    # checked before the memo lookup: 1 == True would otherwise find the bool's entry
    if type(is_login) is not bool:
        raise ValidationError(f"is_login: must be a bool, got {type(is_login).__name__}")
    tail = settings.tails[is_login].get(platform) if type(platform) is str else None
    context.update(_tail(settings, platform, is_login) if tail is None else tail)
    if original_id is not None:
        context["$original_id"] = original_id
    if len(context) > MAX_XCONTEXT_KEYS - settings.reserved_keys:
        raise ValidationError(
            f"properties: xcontext holds at most {MAX_XCONTEXT_KEYS} keys including the "
            f"client's own, got {len(context)}"
        )
    return {
        "appid": settings.app_key,
        "xwho": xwho,
        "xwhat": xwhat,
        "xwhen": now_ms if xwhen is None else check_xwhen(xwhen, now_ms),
        "xcontext": context,
    }
