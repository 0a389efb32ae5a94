"""The rules an Analysys record must keep, checked before it is queued.

Policy (one rule set, written here once; the numbers come from the Analysys
data-type documentation and the limits its server SDKs enforce):

* Ids (``distinct_id``, ``alias_id``, ``$original_id``) and the app key are
  non-empty strings of at most 255 characters.
* Event names and property keys start with a letter or ``$`` and contain only
  letters, digits, ``_`` and ``$``; 1–99 characters.
* ``track`` may not use an operation name (``$alias``, ``$profile_*``) as its
  event name.
* Keys may not be an envelope field (``appid``, ``xwho``, ``xwhat``, ``xwhen``,
  ``xcontext``, any case) nor a key the client writes itself (``$lib``,
  ``$lib_version``, ``$debug``, ``$is_login``, ``$platform``, ``$original_id``,
  ``$record_id``). The Analysys SDK silently overwrites those; here they are
  an error (``$record_id`` too, even when ``record_ids=False``, so a record's
  meaning never depends on a client setting).
* Every string (ids, platform, values, list items) must be encodable as
  UTF-8: a lone surrogate (``"\ud800"``, e.g. from ``json.loads`` of a
  request) is an error at the call, not a record the collector drops later
  as unencodable. ASCII strings are accepted after one ``str.isascii``.
* Values are ``str``, ``bool``, a finite ``float``, an ``int`` in the signed
  64-bit range, or a list/tuple of at most 100 strings. ``None``, dicts and
  other objects are an error (the documented types are string, number,
  boolean and list).
* Strings longer than 8192 characters are cut to 8192, the last one being
  ``"$"`` (a warning is returned); strings over 255 are sent, with a warning.
* ``xcontext`` holds at most 300 keys, the client's own keys included.
* ``xwhen`` is ``None``/``0`` (meaning "now") or a 13-digit int of epoch
  milliseconds, or a timezone-aware ``datetime``. Anything else is an error
  (the Analysys Python SDK silently replaced it with the current time).

Every failure raises :class:`~asyncexp.errors.ValidationError` whose message
names the field and the rule. Warnings are returned as strings for the caller
to log; nothing here logs, reads the clock or mutates its arguments.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from asyncexp.errors import ConfigError, ValidationError

__all__ = [
    "ENVELOPE_KEYS",
    "MAX_ID_LENGTH",
    "MAX_LIST_ITEMS",
    "MAX_NAME_LENGTH",
    "MAX_STRING_LENGTH",
    "MAX_SUPER_PROPERTIES",
    "MAX_XCONTEXT_KEYS",
    "MEMO_LIMIT",
    "OPERATION_NAMES",
    "SYSTEM_KEYS",
    "WARN_STRING_LENGTH",
    "check_app_key",
    "check_debug",
    "check_encodable",
    "check_event_name",
    "check_id",
    "check_key",
    "check_xwhen",
    "clean_properties",
    "clean_value",
    "normalize_platform",
]

MAX_ID_LENGTH = 255
MAX_NAME_LENGTH = 99
MAX_XCONTEXT_KEYS = 300
MAX_LIST_ITEMS = 100
MAX_SUPER_PROPERTIES = 100
WARN_STRING_LENGTH = 255
MAX_STRING_LENGTH = 8192
MEMO_LIMIT = 4096
"""At most this many valid names/keys are remembered by a caller's memo set."""

ENVELOPE_KEYS = frozenset({"appid", "xwho", "xwhat", "xwhen", "xcontext"})
SYSTEM_KEYS = frozenset(
    {"$lib", "$lib_version", "$debug", "$is_login", "$platform", "$original_id", "$record_id"}
)
OPERATION_NAMES = frozenset(
    {
        "$alias",
        "$profile_set",
        "$profile_set_once",
        "$profile_increment",
        "$profile_append",
        "$profile_unset",
        "$profile_delete",
    }
)

_NAME = re.compile(r"[A-Za-z$][A-Za-z0-9_$]{0,98}")
_NAME_RULE = (
    "must start with a letter or '$' and contain only letters, digits, '_' or '$' "
    f"(1-{MAX_NAME_LENGTH} characters)"
)
_PLATFORMS = {"ios": "iOS", "android": "Android", "js": "JS", "wechat": "WeChat"}
_INT_MIN = -(2**63)
_INT_MAX = 2**63 - 1
_XWHEN_MIN = 10**12
_XWHEN_MAX = 10**13 - 1


def check_encodable(value: str, where: str) -> str:
    """``value`` if it is valid UTF-8 text; a lone surrogate raises ``ValidationError``."""
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise ValidationError(
                f"{where}: a string must be encodable as UTF-8; it holds a lone surrogate "
                f"U+{ord(value[exc.start]):04X} at index {exc.start}"
            ) from None
    return value


def check_id(value: object, field: str) -> str:
    """A distinct id, alias id or original id."""
    if type(value) is not str:
        raise ValidationError(f"{field}: must be a str, got {type(value).__name__}")
    if not value or len(value) > MAX_ID_LENGTH:
        raise ValidationError(f"{field}: must be 1-{MAX_ID_LENGTH} characters, got {len(value)}")
    return check_encodable(value, field)


def check_app_key(value: object) -> str:
    """The project's app key (``appid``); a setting, so a ``ConfigError``."""
    if not isinstance(value, str) or not value or len(value) > MAX_ID_LENGTH:
        raise ConfigError(f"app_key: must be a str of 1-{MAX_ID_LENGTH} characters, got {value!r}")
    return value


def check_debug(value: object) -> int:
    """Debug mode 0 (off), 1 (logged, not counted by the server) or 2 (logged, counted)."""
    if type(value) is not int or value not in (0, 1, 2):
        raise ConfigError(f"debug: must be 0, 1 or 2, got {value!r}")
    return value


def check_event_name(value: object, known: set[str] | None = None) -> str:
    """An event name for ``track``; ``known`` memoises names already found valid."""
    if known is not None and type(value) is str and value in known:
        return value
    if type(value) is not str:
        raise ValidationError(f"event_name: must be a str, got {type(value).__name__}")
    if _NAME.fullmatch(value) is None:
        raise ValidationError(f"event_name {value[:120]!r}: {_NAME_RULE}")
    if value in OPERATION_NAMES:
        raise ValidationError(f"event_name {value!r}: is reserved for the alias/profile operations")
    if known is not None and len(known) < MEMO_LIMIT:
        known.add(value)
    return value


def check_key(key: object, field: str) -> str:
    """A property key; ``field`` names the dict it came from."""
    if type(key) is not str:
        raise ValidationError(f"{field}: keys must be str, got {type(key).__name__} {key!r}")
    if _NAME.fullmatch(key) is None:
        raise ValidationError(f"{field}[{key[:120]!r}]: a key {_NAME_RULE}")
    if key in SYSTEM_KEYS:
        raise ValidationError(f"{field}[{key!r}]: is written by the client and cannot be set")
    if key.lower() in ENVELOPE_KEYS:
        raise ValidationError(f"{field}[{key!r}]: is a reserved record field name")
    return key


def _clean_str(value: str, where: str, warnings: list[str]) -> str:
    check_encodable(value, where)
    length = len(value)
    if length > MAX_STRING_LENGTH:
        warnings.append(
            f"{where}: a {length}-character string was cut to {MAX_STRING_LENGTH} characters"
        )
        return value[: MAX_STRING_LENGTH - 1] + "$"
    if length > WARN_STRING_LENGTH:
        warnings.append(f"{where}: a string over {WARN_STRING_LENGTH} characters ({length})")
    return value


def clean_value(value: object, where: str, warnings: list[str]) -> Any:
    """A checked copy of one property value (see the module rules)."""
    kind = type(value)
    if kind is str:
        return _clean_str(value, where, warnings)  # type: ignore[arg-type]
    if kind is bool:
        return value
    if kind is int:
        if not _INT_MIN <= value <= _INT_MAX:  # type: ignore[operator]
            raise ValidationError(f"{where}: an int must fit in 64 bits, got {value}")
        return value
    if kind is float:
        if not math.isfinite(value):  # type: ignore[arg-type]
            raise ValidationError(f"{where}: a float must be finite, got {value}")
        return value
    if kind is list or kind is tuple:
        items: list[Any] | tuple[Any, ...] = value  # type: ignore[assignment]
        if len(items) > MAX_LIST_ITEMS:
            raise ValidationError(
                f"{where}: a list holds at most {MAX_LIST_ITEMS} items, got {len(items)}"
            )
        out: list[str] = []
        for index, item in enumerate(items):
            if type(item) is not str:
                raise ValidationError(
                    f"{where}[{index}]: list items must be str, got {type(item).__name__}"
                )
            out.append(_clean_str(item, f"{where}[{index}]", warnings))
        return out
    raise ValidationError(
        f"{where}: values must be str, int, float, bool or a list of str, got {kind.__name__}"
    )


def clean_properties(
    props: object, field: str, warnings: list[str], known: set[str] | None = None
) -> dict[str, Any]:
    """A checked copy of a properties mapping; ``None`` is an empty dict.

    ``known`` memoises keys already found valid (at most ``MEMO_LIMIT``).
    """
    if props is None:
        return {}
    if type(props) is dict:  # the common case, without the ABC check's cost
        out: dict[str, Any] = props.copy()
    elif isinstance(props, Mapping):
        out = dict(props)
    else:
        raise ValidationError(f"{field}: must be a dict, got {type(props).__name__}")
    # copy first, then replace only the values that need it (same keys: safe while iterating)
    for key, value in out.items():
        if known is None or key not in known:
            check_key(key, field)
            if known is not None and len(known) < MEMO_LIMIT:
                known.add(key)
        kind = type(value)
        # the common cases inline; everything else goes through clean_value
        if not (
            (kind is str and len(value) <= WARN_STRING_LENGTH and value.isascii())
            or kind is bool
            or (kind is int and _INT_MIN <= value <= _INT_MAX)
        ):
            out[key] = clean_value(value, f"{field}[{key!r}]", warnings)
    return out


def check_xwhen(xwhen: object, now_ms: int) -> int:
    """The record time in epoch milliseconds; ``None`` or ``0`` mean ``now_ms``."""
    if xwhen is None or (type(xwhen) is int and xwhen == 0):
        return now_ms
    if type(xwhen) is int:
        if _XWHEN_MIN <= xwhen <= _XWHEN_MAX:
            return xwhen
        raise ValidationError(f"xwhen: must be 13-digit epoch milliseconds, got {xwhen}")
    if isinstance(xwhen, datetime):
        if xwhen.tzinfo is None or xwhen.utcoffset() is None:
            raise ValidationError("xwhen: a datetime must be timezone-aware")
        millis = round(xwhen.timestamp() * 1000)
        if not _XWHEN_MIN <= millis <= _XWHEN_MAX:
            raise ValidationError(f"xwhen: {xwhen.isoformat()} is outside the 13-digit range")
        return millis
    raise ValidationError(
        f"xwhen: must be an int of epoch milliseconds or an aware datetime, "
        f"got {type(xwhen).__name__}"
    )


def normalize_platform(platform: object) -> str:
    """``$platform``: iOS/Android/JS/WeChat spelled canonically, others kept as given."""
    if platform == "python" or platform is None or platform == "":
        return "python"
    if type(platform) is not str:
        raise ValidationError(f"platform: must be a str, got {type(platform).__name__}")
    if len(platform) > MAX_ID_LENGTH:
        raise ValidationError(f"platform: must be at most {MAX_ID_LENGTH} characters")
    return _PLATFORMS.get(platform.lower(), check_encodable(platform, "platform"))
