"""Path-aware readers for untrusted JSON documents.

Every accessor names where in the document a problem is (``experiments[3].key``),
so a ``ConfigError`` points the user at the exact place to fix. Size is checked
before decoding; nesting is bounded by orjson's own recursion limit and, for
condition trees, by the compilers in ``conditions``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from asyncexp.errors import ConfigError

__all__ = [
    "decode_document",
    "opt_bool",
    "opt_str",
    "req_int",
    "req_list",
    "req_obj",
    "req_str",
    "str_list",
]


def decode_document(
    data: str | bytes | Mapping[str, Any], *, max_bytes: int, what: str
) -> tuple[dict[str, Any], str]:
    """Decode ``data`` into a dict and return it with its text form."""
    if isinstance(data, Mapping):
        try:
            text = orjson.dumps(data).decode()
        except TypeError as exc:
            raise ConfigError(f"{what} is not JSON-serialisable: {exc}") from None
        if len(text) > max_bytes:
            raise ConfigError(f"{what} is larger than {max_bytes} bytes")
        return dict(data), text
    if isinstance(data, bytes | bytearray | memoryview):
        raw = bytes(data)
        if len(raw) > max_bytes:
            raise ConfigError(f"{what} is larger than {max_bytes} bytes")
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ConfigError(f"{what} is not UTF-8: {exc.reason} at byte {exc.start}") from None
    elif isinstance(data, str):
        text = data
        if len(text) > max_bytes:  # characters ≤ bytes, so this only under-counts
            raise ConfigError(f"{what} is larger than {max_bytes} bytes")
    else:
        raise ConfigError(f"{what} must be str, bytes or a dict, not {type(data).__name__}")
    try:
        doc = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise ConfigError(f"{what} is not valid JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise ConfigError(f"{what} must be a JSON object, not {type(doc).__name__}")
    return doc, text


def req_obj(value: object, path: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ConfigError(f"expected an object, got {_kind(value)}", path)
    return value


def req_list(parent: Mapping[str, Any], key: str, path: str, *, required: bool = True) -> list[Any]:
    value = parent.get(key)
    if value is None:
        if required and key not in parent:
            raise ConfigError(f"missing required key {key!r}", path)
        return []
    if not isinstance(value, list):
        raise ConfigError(f"expected a list, got {_kind(value)}", _join(path, key))
    return value


def req_str(parent: Mapping[str, Any], key: str, path: str) -> str:
    value = parent.get(key)
    if not isinstance(value, str):
        if key not in parent:
            raise ConfigError(f"missing required key {key!r}", path)
        raise ConfigError(f"expected a string, got {_kind(value)}", _join(path, key))
    return value


def opt_str(parent: Mapping[str, Any], key: str, path: str, default: str = "") -> str:
    value = parent.get(key)
    if value is None:
        return default
    if not isinstance(value, str):
        raise ConfigError(f"expected a string, got {_kind(value)}", _join(path, key))
    return value


def opt_bool(parent: Mapping[str, Any], key: str, path: str) -> bool | None:
    value = parent.get(key)
    if value is None or isinstance(value, bool):
        return value
    raise ConfigError(f"expected a boolean, got {_kind(value)}", _join(path, key))


def req_int(parent: Mapping[str, Any], key: str, path: str) -> int:
    value = parent.get(key)
    if isinstance(value, bool) or not isinstance(value, int):
        if key not in parent:
            raise ConfigError(f"missing required key {key!r}", path)
        raise ConfigError(f"expected an integer, got {_kind(value)}", _join(path, key))
    return value


def str_list(parent: Mapping[str, Any], key: str, path: str, *, required: bool) -> tuple[str, ...]:
    items = req_list(parent, key, path, required=required)
    for i, item in enumerate(items):
        if not isinstance(item, str):
            raise ConfigError(f"expected a string, got {_kind(item)}", f"{_join(path, key)}[{i}]")
    return tuple(items)


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _kind(value: object) -> str:
    if value is None:
        return "null"
    return {dict: "an object", list: "a list", str: "a string", bool: "a boolean"}.get(
        type(value), type(value).__name__
    )
