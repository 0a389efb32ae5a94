"""Wire codecs: the Analysys ``/up`` format and the Optimizely event batch.

Analysys (``POST {url}/up``):

* the body is a JSON array of records, UTF-8, non-ASCII kept as is; by default
  Base64(Gzip(JSON)) as the raw body text (``encoding="gzip"``, sent with
  ``Content-Type: application/x-www-form-urlencoded`` as the Analysys Python SDK
  does), or the plain JSON array (``encoding="json"``, ``application/json``);
* the response body is Base64(Gzip(JSON)) or plain JSON; only ``{"code": 200}``
  is success. ``{"code": 500}`` is a server failure (retried); any other code
  means the server refused the data (not retried). A body that decodes to
  nothing usable is treated as a server failure and retried.
* The ``/up`` suffix is appended once: ``https://h:4089``, ``https://h:4089/``
  and ``https://h:4089/up`` all post to ``https://h:4089/up``.

Optimizely (``POST …/v1/events``): ``build_event_batch`` as plain JSON,
``Content-Type: application/json``; success is any 2xx.
"""

from __future__ import annotations

import base64
import binascii
import gzip
import zlib
from collections.abc import Sequence
from typing import Any, Literal

import orjson

from asyncexp.core.flags.events import UserEvent, build_event_batch

__all__ = [
    "ANALYSYS_SUCCESS_BODY",
    "MAX_RESPONSE_JSON",
    "Encoding",
    "analysys_headers",
    "analysys_response_code",
    "analysys_up_url",
    "decode_analysys_body",
    "encode_analysys",
    "encode_optimizely",
]

Encoding = Literal["gzip", "json"]

ANALYSYS_SUCCESS_BODY = b"H4sIAAAAAAAAAKtWSs5PSVWyMjIwqAUAVAOW6gwAAAA="
"""``{"code":200}`` as Base64(Gzip), the success body the Analysys server sends."""
MAX_RESPONSE_JSON = 64 * 1024
"""A decoded response larger than this is not trusted."""

_UNKNOWN = object()
_KNOWN_CODES: dict[bytes, int | None] = {ANALYSYS_SUCCESS_BODY: 200, b'{"code":200}': 200}
_MEMO_BODY_BYTES = 128
_MEMO_ENTRIES = 32

_HEADERS: dict[str, dict[str, str]] = {
    # as the Analysys Python SDK sends it (the body is the Base64 text, not a form)
    "gzip": {"Content-Type": "application/x-www-form-urlencoded"},
    "json": {"Content-Type": "application/json"},
}
OPTIMIZELY_HEADERS = {"Content-Type": "application/json"}


def analysys_up_url(url: str) -> str:
    base = url.rstrip("/")
    if base.endswith("/up"):
        return base
    return base + "/up"


def analysys_headers(encoding: Encoding) -> dict[str, str]:
    return _HEADERS[encoding]


def encode_analysys(records: Sequence[dict[str, Any]], encoding: Encoding, level: int = 1) -> bytes:
    """The request body for ``records`` (raises ``orjson.JSONEncodeError`` on bad values)."""
    raw = orjson.dumps(records)
    if encoding == "json":
        return raw
    return base64.b64encode(gzip.compress(raw, compresslevel=level, mtime=0))


def decode_analysys_body(body: bytes, limit: int = MAX_RESPONSE_JSON) -> bytes:
    """Plain JSON, or Base64(Gzip(JSON)) decoded; raises ``ValueError`` if neither."""
    text = body.strip()
    if text[:1] in (b"{", b"["):
        return text
    try:
        packed = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError("response is neither JSON nor base64") from exc
    inflater = zlib.decompressobj(wbits=31)
    try:
        out = inflater.decompress(packed, limit + 1)
    except zlib.error as exc:
        raise ValueError("response base64 is not gzip") from exc
    if len(out) > limit:
        raise ValueError(f"decoded response exceeds {limit} bytes")
    return out


def analysys_response_code(body: bytes) -> int | None:
    """The ``code`` of an Analysys response, or ``None`` when it cannot be read."""
    # A server answers with the same few short bodies again and again: remember
    # their codes instead of inflating each one (bounded, short bodies only).
    known = _KNOWN_CODES.get(body, _UNKNOWN)
    if known is not _UNKNOWN:
        return known  # type: ignore[return-value]
    code = _read_code(body)
    if len(body) <= _MEMO_BODY_BYTES and len(_KNOWN_CODES) < _MEMO_ENTRIES:
        _KNOWN_CODES[body] = code
    return code


def _read_code(body: bytes) -> int | None:
    try:
        parsed = orjson.loads(decode_analysys_body(body))
    except ValueError:
        return None
    if not isinstance(parsed, dict):
        return None
    code = parsed.get("code")
    if isinstance(code, bool) or not isinstance(code, int):
        return None
    return code


def encode_optimizely(events: Sequence[UserEvent]) -> bytes:
    return orjson.dumps(build_event_batch(events))
