"""Analysys records, built as pure functions.

The record (one element of the JSON array posted to ``{url}/up``)::

    {"appid": …, "xwho": …, "xwhat": …, "xwhen": <13-digit ms int>, "xcontext": {…}}

Rules this module keeps:

* ``xcontext`` is the caller's properties, then the client's own keys:
  ``$lib``, ``$lib_version``, ``$platform``, ``$debug``, ``$is_login`` (and
  ``$original_id`` on ``$alias``).
* ``track`` merges the super properties first, so an event property of the same
  name wins; no other operation carries super properties.
* ``$alias``: ``xwho`` is the new (login) id, ``$original_id`` the old one and
  ``$is_login`` is always true.
* ``$profile_unset`` maps each key to ``""``; ``$profile_delete`` has only the
  client's keys; ``$profile_increment`` values must be numbers and
  ``$profile_append`` values lists of strings.
* ``profile_set``/``set_once``/``increment``/``append``/``unset`` with nothing
  to set build no record (``None``), as the Analysys SDK sends nothing then.
* The caller's dicts are copied, never mutated. Every check is in
  :mod:`asyncexp.core.analytics.validation`; the envelope (settings, the
  client's own keys, the key limit) in :mod:`asyncexp.core.analytics.envelope`.

Time comes in as ``now_ms``; warnings come back in :class:`BuiltRecord`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from asyncexp.core.analytics.envelope import (
    LIB,
    LIB_VERSION,
    BuiltRecord,
    RecordSettings,
    assemble_record,
)
from asyncexp.core.analytics.validation import (
    MAX_ID_LENGTH,
    MAX_SUPER_PROPERTIES,
    MAX_XCONTEXT_KEYS,
    WARN_STRING_LENGTH,
    check_event_name,
    check_id,
    check_key,
    clean_properties,
    clean_value,
)
from asyncexp.errors import ValidationError

__all__ = [
    "COMMON_MAX_KEYS",
    "LIB",
    "LIB_VERSION",
    "PROFILE_OPERATIONS",
    "BuiltRecord",
    "RecordSettings",
    "build_alias",
    "build_profile",
    "build_profile_delete",
    "build_profile_unset",
    "build_track",
    "merge_super_properties",
    "track_context_common",
    "track_record",
]

COMMON_MAX_KEYS = 64
"""The most properties :func:`track_record_common` takes (far below the xcontext limit)."""
assert COMMON_MAX_KEYS + 8 < MAX_XCONTEXT_KEYS
_INT_MIN = -(2**63)
_INT_MAX = 2**63 - 1

PROFILE_OPERATIONS = {
    "set": "$profile_set",
    "set_once": "$profile_set_once",
    "increment": "$profile_increment",
    "append": "$profile_append",
}


def track_record(
    settings: RecordSettings,
    distinct_id: object,
    event_name: object,
    properties: object,
    super_properties: Mapping[str, Any],
    platform: object,
    is_login: object,
    xwhen: object,
    now_ms: int,
    warnings: list[str],
) -> dict[str, Any]:
    """The ``track`` record, positional and appending to ``warnings`` (the hot path)."""
    if (
        type(distinct_id) is not str
        or not 0 < len(distinct_id) <= MAX_ID_LENGTH
        or not distinct_id.isascii()
    ):
        check_id(distinct_id, "distinct_id")  # raises with the precise message
    if type(event_name) is not str or event_name not in settings.known_names:
        check_event_name(event_name, settings.known_names)
    own = clean_properties(properties, "properties", warnings, settings.known_keys)
    if super_properties:
        context = dict(super_properties)
        context.update(own)
    else:
        context = own
    return assemble_record(
        settings,
        distinct_id,  # type: ignore[arg-type]  # checked above; not narrowed by mypy
        event_name,  # type: ignore[arg-type]
        context,
        platform,
        is_login,
        xwhen,
        now_ms,
    )


def track_context_common(
    settings: RecordSettings,
    distinct_id: object,
    event_name: object,
    properties: object,
) -> dict[str, Any] | None:
    """The ``xcontext`` of a ``track`` record of the common shape, or ``None``.

    ``None`` means: use :func:`track_record`. The common shape is what the caller
    checks (no super properties, platform ``"python"``, ``is_login=False``, no
    ``xwhen``) plus what this checks: an ASCII id of 1-255 characters, an event name
    already found valid, and a plain dict (or ``None``) of at most ``COMMON_MAX_KEYS``
    properties whose keys were already found valid and whose values are ASCII strings
    of at most 255 characters, bools or 64-bit ints. It adds no rule: for these inputs
    the record ``{"appid": settings.app_key, "xwho": distinct_id, "xwhat": event_name,
    "xwhen": now_ms, "xcontext": <this>}`` is what :func:`track_record` builds, with
    one dict copy and no function call per value. The caller may add ``$record_id``
    (counted in ``settings.reserved_keys``).
    """
    if (
        type(distinct_id) is not str
        or type(event_name) is not str
        or not 0 < len(distinct_id) <= MAX_ID_LENGTH
        or not distinct_id.isascii()
        or event_name not in settings.known_names
    ):
        return None
    tail = settings.tails[False].get("python")
    if tail is None:
        return None  # the first record of the platform builds it (the general path)
    if properties is None:
        context: dict[str, Any] = tail.copy()
        return context
    if type(properties) is not dict or len(properties) > COMMON_MAX_KEYS:
        return None
    known = settings.known_keys
    for key, value in properties.items():
        kind = type(value)
        if key not in known or not (
            (kind is str and len(value) <= WARN_STRING_LENGTH and value.isascii())
            or kind is bool
            or (kind is int and _INT_MIN <= value <= _INT_MAX)
        ):
            return None
    context = properties.copy()
    context.update(tail)
    return context


def build_track(
    settings: RecordSettings,
    distinct_id: object,
    event_name: object,
    properties: object,
    super_properties: Mapping[str, Any],
    *,
    platform: object,
    is_login: object,
    xwhen: object,
    now_ms: int,
) -> BuiltRecord:
    """A ``track`` record; ``super_properties`` were checked when registered."""
    warnings: list[str] = []
    record = track_record(
        settings,
        distinct_id,
        event_name,
        properties,
        super_properties,
        platform,
        is_login,
        xwhen,
        now_ms,
        warnings,
    )
    return BuiltRecord(record, warnings)


def build_alias(
    settings: RecordSettings,
    alias_id: object,
    distinct_id: object,
    properties: object,
    *,
    platform: object,
    xwhen: object,
    now_ms: int,
) -> BuiltRecord:
    """``$alias``: links ``distinct_id`` (old, anonymous) to ``alias_id`` (new, login)."""
    warnings: list[str] = []
    xwho = check_id(alias_id, "alias_id")
    original = check_id(distinct_id, "distinct_id")
    context = clean_properties(properties, "properties", warnings)
    record = assemble_record(
        settings, xwho, "$alias", context, platform, True, xwhen, now_ms, original_id=original
    )
    return BuiltRecord(record, warnings)


def build_profile(
    settings: RecordSettings,
    operation: str,
    distinct_id: object,
    properties: object,
    *,
    platform: object,
    is_login: object,
    xwhen: object,
    now_ms: int,
) -> BuiltRecord:
    """``$profile_set``/``_set_once``/``_increment``/``_append`` (``operation`` is the suffix)."""
    xwhat = PROFILE_OPERATIONS.get(operation)
    if xwhat is None:
        raise ValidationError(f"operation: unknown profile operation {operation!r}")
    warnings: list[str] = []
    xwho = check_id(distinct_id, "distinct_id")
    context = clean_properties(properties, "properties", warnings, settings.known_keys)
    if not context:
        return BuiltRecord(None, warnings)
    if operation == "increment":
        for key, value in context.items():
            if type(value) is not int and type(value) is not float:
                raise ValidationError(
                    f"properties[{key!r}]: profile_increment values must be numbers, "
                    f"got {type(value).__name__}"
                )
    elif operation == "append":
        for key, value in context.items():
            if type(value) is not list:
                raise ValidationError(
                    f"properties[{key!r}]: profile_append values must be lists of str, "
                    f"got {type(value).__name__}"
                )
    record = assemble_record(settings, xwho, xwhat, context, platform, is_login, xwhen, now_ms)
    return BuiltRecord(record, warnings)


def build_profile_unset(
    settings: RecordSettings,
    distinct_id: object,
    keys: object,
    *,
    platform: object,
    is_login: object,
    xwhen: object,
    now_ms: int,
) -> BuiltRecord:
    """``$profile_unset``: each key maps to ``""``."""
    xwho = check_id(distinct_id, "distinct_id")
    if keys is None:
        return BuiltRecord(None, [])
    if isinstance(keys, str | bytes) or not isinstance(keys, Iterable):
        raise ValidationError(f"keys: must be a list of str, got {type(keys).__name__}")
    context = {check_key(key, "keys"): "" for key in keys}
    if not context:
        return BuiltRecord(None, [])
    record = assemble_record(
        settings, xwho, "$profile_unset", context, platform, is_login, xwhen, now_ms
    )
    return BuiltRecord(record, [])


def build_profile_delete(
    settings: RecordSettings,
    distinct_id: object,
    *,
    platform: object,
    is_login: object,
    xwhen: object,
    now_ms: int,
) -> BuiltRecord:
    """``$profile_delete``: only the client's own keys."""
    xwho = check_id(distinct_id, "distinct_id")
    record = assemble_record(
        settings, xwho, "$profile_delete", {}, platform, is_login, xwhen, now_ms
    )
    return BuiltRecord(record, [])


def merge_super_properties(
    current: Mapping[str, Any], update: object
) -> tuple[dict[str, Any], list[str]]:
    """``current`` with ``update`` merged in, checked, as a new dict (at most 100 keys)."""
    warnings: list[str] = []
    if not isinstance(update, Mapping):
        raise ValidationError(f"super_properties: must be a dict, got {type(update).__name__}")
    merged = dict(current)
    for key, value in update.items():
        check_key(key, "super_properties")
        value = clean_value(value, f"super_properties[{key!r}]", warnings)
        # lists are kept as tuples so the stored values cannot be changed in place
        merged[key] = tuple(value) if type(value) is list else value
    if len(merged) > MAX_SUPER_PROPERTIES:
        raise ValidationError(
            f"super_properties: at most {MAX_SUPER_PROPERTIES} may be registered, got {len(merged)}"
        )
    return merged, warnings
