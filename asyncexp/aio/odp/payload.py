"""Building and checking one ODP event (reference §7.3); pure functions, no I/O.

Shape, in the key order sent::

    {"type": "fullstack", "action": "<action>", "identifiers": {...},
     "data": {"idempotence_id": "<uuid4>", "data_source_type": "sdk",
              "data_source": "python-sdk", "data_source_version": "5.7.0", ...custom}}

Rules:

* Custom data is merged *after* the common fields, so a custom key of the same
  name replaces a common one (the reference's order, kept on purpose).
* Identifiers: the first key equal to ``fs-user-id`` or ``fs_user_id`` in any
  case is renamed ``fs_user_id``; the renamed key moves to the end (as the
  reference does; the order has no meaning to the server).
* An empty or missing ``type`` becomes ``"fullstack"``.
* Checks, raised at the call site (the reference logs and drops instead; here a
  programmer error gets an exception, see ``errors.py``):

  - wrong types (action, type, identifiers or data not str / dict, a key or an
    identifier value not a str) raise ``ArgumentTypeError``;
  - an empty action, no identifiers, an empty identifier key or value, and a data
    value that is not str / int / float / bool / None (or a NaN or infinite float,
    which JSON cannot carry) raise ``ValidationError`` whose message starts with
    the reference's text.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from asyncexp.aio.odp.messages import (
    ODP_INVALID_ACTION,
    ODP_INVALID_DATA,
    ODP_MISSING_IDENTIFIERS,
)
from asyncexp.errors import ArgumentTypeError, ValidationError

__all__ = [
    "DATA_SOURCE",
    "DATA_SOURCE_TYPE",
    "DATA_SOURCE_VERSION",
    "EVENT_TYPE",
    "IDENTIFY_ACTION",
    "USER_ID_KEY",
    "build_odp_event",
    "check_data",
    "check_identifiers",
    "normalize_identifiers",
]

EVENT_TYPE = "fullstack"
IDENTIFY_ACTION = "identified"
USER_ID_KEY = "fs_user_id"
DATA_SOURCE_TYPE = "sdk"
DATA_SOURCE = "python-sdk"
DATA_SOURCE_VERSION = "5.7.0"
_USER_ID_ALIASES = frozenset({"fs-user-id", "fs_user_id"})


def _type_name(value: object) -> str:
    return type(value).__name__


def check_identifiers(identifiers: object) -> dict[str, str]:
    """A copy of ``identifiers`` after the checks of the module docstring."""
    if identifiers is None:
        raise ValidationError(ODP_MISSING_IDENTIFIERS)
    if not isinstance(identifiers, Mapping):
        raise ArgumentTypeError(f"identifiers must be a dict, not {_type_name(identifiers)}")
    if not identifiers:
        raise ValidationError(ODP_MISSING_IDENTIFIERS)
    checked: dict[str, str] = {}
    for key, value in identifiers.items():
        if not isinstance(key, str):
            raise ArgumentTypeError(f"identifier keys must be str, not {_type_name(key)}")
        if not isinstance(value, str):
            raise ArgumentTypeError(
                f"identifier {key!r} must have a str value, not {_type_name(value)}"
            )
        if not key or not value:
            raise ValidationError(f"identifier keys and values cannot be empty ({key!r})")
        checked[key] = value
    return checked


def normalize_identifiers(identifiers: Mapping[str, str]) -> dict[str, str]:
    """Rename the first ``fs-user-id`` / ``fs_user_id`` key (any case) to ``fs_user_id``."""
    result = dict(identifiers)
    for key in identifiers:
        if key.lower() in _USER_ID_ALIASES:
            result[USER_ID_KEY] = result.pop(key)
            break
    return result


def check_data(data: object) -> dict[str, Any]:
    """A copy of ``data``; raises as the module docstring says."""
    if data is None:
        return {}
    if not isinstance(data, Mapping):
        raise ArgumentTypeError(f"data must be a dict, not {_type_name(data)}")
    checked: dict[str, Any] = {}
    for key, value in data.items():
        if not isinstance(key, str):
            raise ArgumentTypeError(f"data keys must be str, not {_type_name(key)}")
        if value is not None and not isinstance(value, str | int | float):
            raise ValidationError(
                f"{ODP_INVALID_DATA} {key!r} is a {_type_name(value)}; "
                "values must be str, int, float, bool or None"
            )
        if isinstance(value, float) and not math.isfinite(value):
            raise ValidationError(f"{ODP_INVALID_DATA} {key!r} is {value!r}, not a finite number")
        checked[key] = value
    return checked


def build_odp_event(
    *,
    action: object,
    type: object = EVENT_TYPE,  # the reference's parameter name
    identifiers: object,
    data: object = None,
    idempotence_id: str,
) -> dict[str, Any]:
    """One event ready to be sent; raises ``ArgumentTypeError`` / ``ValidationError``."""
    if not isinstance(action, str):
        raise ArgumentTypeError(f"action must be str, not {_type_name(action)}")
    if not action:
        raise ValidationError(ODP_INVALID_ACTION)
    if type is not None and not isinstance(type, str):
        raise ArgumentTypeError(f"type must be str, not {_type_name(type)}")
    checked_ids = normalize_identifiers(check_identifiers(identifiers))
    custom = check_data(data)
    event_data: dict[str, Any] = {
        "idempotence_id": idempotence_id,
        "data_source_type": DATA_SOURCE_TYPE,
        "data_source": DATA_SOURCE,
        "data_source_version": DATA_SOURCE_VERSION,
    }
    event_data.update(custom)
    return {
        "type": type or EVENT_TYPE,
        "action": action,
        "identifiers": checked_ids,
        "data": event_data,
    }
