"""The segments GraphQL request body and the parsing of its answer (see :mod:`.segments`).

Only what was asked for is kept: :func:`parse_segments_answer` given ``wanted`` (the
segments of the question, i.e. the datafile's) returns each qualified name that is in
``wanted``, once, in the server's order, as the very string object of ``wanted`` (so a
cached answer shares its strings with the config instead of holding copies). Names not
asked for and repeats are counted as discarded, never kept: a server answering every
user with 15,000 segments costs a parse, not 1.3 MB per cached user. The reference keeps
whatever the server lists, repeats included; for an honest server (it answers the
``subset`` it was asked) the two agree.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Collection
from typing import Any, NamedTuple

import orjson

__all__ = [
    "GRAPHQL_QUERY",
    "INVALID_IDENTIFIER",
    "SegmentsAnswer",
    "build_segments_query",
    "parse_segments_answer",
    "parse_segments_response",
]

GRAPHQL_QUERY = (
    "query($userId: String, $audiences: [String]) "
    "{customer(fs_user_id: $userId) "
    "{audiences(subset: $audiences) {edges {node {name state}}}}}"
)
INVALID_IDENTIFIER = "INVALID_IDENTIFIER_EXCEPTION"
_MAX_REASON = 120


def build_segments_query(user_id: str, segments: tuple[str, ...] | list[str]) -> bytes:
    """The request body, byte for byte what the reference sends."""
    payload = {
        "query": GRAPHQL_QUERY,
        "variables": {"userId": user_id, "audiences": list(segments)},
    }
    return json.dumps(payload).encode()


class _FetchError(Exception):
    def __init__(self, kind: str, reason: str, level: int = logging.ERROR) -> None:
        super().__init__(reason)
        self.kind = kind
        self.reason = reason
        self.level = level


def _printable(text: str) -> str:
    text = text[:_MAX_REASON]
    return text if text.isprintable() else repr(text)


def _graphql_failure(errors: Any) -> _FetchError:
    first = errors[0] if isinstance(errors, list) and errors else None
    ext = first.get("extensions") if isinstance(first, dict) else None
    if not isinstance(ext, dict):
        return _FetchError("decode", "decode error")
    if ext.get("code") == INVALID_IDENTIFIER:
        return _FetchError("invalid_identifier", "invalid identifier", logging.WARNING)
    classification = ext.get("classification")
    if not isinstance(classification, str) or not classification:
        return _FetchError("decode", "decode error")
    return _FetchError("graphql_error", _printable(classification))


class SegmentsAnswer(NamedTuple):
    """The qualified names kept, and how many listed names were discarded."""

    qualified: tuple[str, ...]
    discarded: int


def parse_segments_answer(body: bytes, wanted: Collection[str] | None) -> SegmentsAnswer:
    """The qualified names of ``wanted`` in a GraphQL answer; raises ``_FetchError`` otherwise.

    ``wanted=None`` keeps every qualified name the server lists (repeats included), as the
    reference does; otherwise see the module docstring.
    """
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise _FetchError("json_decode", "JSON decode error") from None
    if not isinstance(doc, dict):
        raise _FetchError("decode", "decode error")
    errors = doc.get("errors")
    if errors:
        raise _graphql_failure(errors)
    # name -> the caller's own string object, until it is kept once
    pending = None if wanted is None else {name: name for name in wanted}
    discarded = 0
    try:
        edges = doc["data"]["customer"]["audiences"]["edges"]
        if not isinstance(edges, list):
            raise TypeError("edges")
        qualified: list[str] = []
        for edge in edges:
            node = edge["node"]
            name, state = node["name"], node["state"]
            if not isinstance(name, str):
                raise TypeError("name")
            if state != "qualified":
                continue
            if pending is None:
                qualified.append(name)
                continue
            own = pending.pop(name, None)
            if own is None:
                discarded += 1
            else:
                qualified.append(own)
    except (KeyError, TypeError, IndexError):
        raise _FetchError("decode", "decode error") from None
    return SegmentsAnswer(tuple(qualified), discarded)


def parse_segments_response(body: bytes, wanted: Collection[str] | None = None) -> list[str]:
    """The qualified segment names in a GraphQL answer; raises ``_FetchError`` otherwise."""
    return list(parse_segments_answer(body, wanted).qualified)
