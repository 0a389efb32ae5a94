"""Token-level reading of rule text: the cursor, literals (strings, numbers, timestamps)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone

from asyncexp.core.appconfig.rule_syntax import MAX_NODES, Literal
from asyncexp.errors import RuleSyntaxError

__all__ = ["CONTEXT_KEY", "NAME", "Lexer", "parse_timestamp"]

_INT64_MIN = -(2**63)
_INT64_MAX = 2**63 - 1

_W3C = re.compile(
    r"(\d{4})(?:-(\d{2})(?:-(\d{2})"
    r"(?:T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?(Z|[+-]\d{2}:\d{2})?)?)?)?"
)
_INT = re.compile(r"[+-]?\d+")
_FLOAT = re.compile(r"[+-]?(?:\d+\.\d*|\.\d+|\d+(?=[eE]))(?:[eE][+-]?\d+)?")
_BARE = re.compile(r"[0-9A-Za-z.:+\-]+")
NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
CONTEXT_KEY = re.compile(r"[A-Za-z0-9_.\-]+")
_SIMPLE_ESCAPES = {
    '"': '"',
    "\\": "\\",
    "/": "/",
    "b": "\b",
    "f": "\f",
    "n": "\n",
    "r": "\r",
    "t": "\t",
}


def parse_timestamp(text: str) -> datetime | None:
    """Parse a W3C date-time (``YYYY`` … ``YYYY-MM-DDThh:mm:ss.sTZD``); ``None`` if invalid.

    The result is timezone-aware; a missing zone means UTC.
    """
    m = _W3C.fullmatch(text)
    if m is None:
        return None
    year, month, day, hour, minute, second, frac, tzd = m.groups()
    if tzd is None or tzd == "Z":
        tz: timezone = UTC
    else:
        sign = -1 if tzd[0] == "-" else 1
        offset = timedelta(hours=int(tzd[1:3]), minutes=int(tzd[4:6]))
        if offset >= timedelta(hours=24):
            return None
        tz = timezone(sign * offset)
    micro = int((frac or "0")[:6].ljust(6, "0"))
    try:
        return datetime(
            int(year),
            int(month or 1),
            int(day or 1),
            int(hour or 0),
            int(minute or 0),
            int(second or 0),
            micro,
            tzinfo=tz,
        )
    except ValueError:
        return None


class Lexer:
    """The cursor over rule text and the reading of literal tokens; ``_Parser`` adds structure."""

    __slots__ = ("depth", "nodes", "path", "pos", "text")

    def __init__(self, text: str, path: str) -> None:
        self.text = text
        self.path = path
        self.pos = 0
        self.depth = 0
        self.nodes = 0

    def error(self, message: str, position: int | None = None) -> RuleSyntaxError:
        return RuleSyntaxError(message, self.pos if position is None else position, self.path)

    def skip_ws(self) -> None:
        text, pos = self.text, self.pos
        while pos < len(text) and text[pos] in " \t\r\n":
            pos += 1
        self.pos = pos

    def count_node(self, position: int) -> None:
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise self.error(f"rule has more than {MAX_NODES} nodes", position)

    def literal(self) -> Literal:
        text, pos = self.text, self.pos
        ch = text[pos]
        self.count_node(pos)
        if ch == '"':
            return Literal(self.string(), "string", pos)
        if ch in "0123456789+-.":  # ASCII only: "²".isdigit() is True, yet no token
            m = _BARE.match(text, pos)
            assert m is not None
            token = m.group()
            self.pos = m.end()
            return self.number_or_timestamp(token, pos)
        m = NAME.match(text, pos)
        if m is not None:
            word = m.group()
            if word in ("true", "false"):
                self.pos = m.end()
                return Literal(word == "true", "boolean", pos)
            raise self.error(f"unexpected name {word!r} (strings need double quotes)", pos)
        raise self.error(f"unexpected character {ch!r}", pos)

    def number_or_timestamp(self, token: str, pos: int) -> Literal:
        if _INT.fullmatch(token):
            # Past 19 significant digits it is out of range anyway; checking first also
            # keeps int() away from its 4300-digit ValueError.
            if len(token.lstrip("+-").lstrip("0")) > 19:
                raise self.error(f"integer {token[:32]}… is outside the 64-bit range", pos)
            value = int(token)
            if not _INT64_MIN <= value <= _INT64_MAX:
                raise self.error(f"integer {token} is outside the 64-bit range", pos)
            return Literal(value, "integer", pos)
        if _FLOAT.fullmatch(token):
            number = float(token)
            if number in (float("inf"), float("-inf")):
                raise self.error(f"float {token} is out of range", pos)
            return Literal(number, "float", pos)
        if "-" in token[1:] and (stamp := parse_timestamp(token)) is not None:
            return Literal(stamp, "timestamp", pos)
        raise self.error(f"invalid number or timestamp {token!r}", pos)

    def string(self) -> str:
        text = self.text
        start = self.pos
        pos = start + 1
        out: list[str] = []
        while True:
            end = pos
            while end < len(text) and text[end] not in '"\\':
                end += 1
            out.append(text[pos:end])
            if end >= len(text):
                raise self.error("unterminated string", start)
            if text[end] == '"':
                self.pos = end + 1
                return "".join(out)
            esc = text[end + 1 : end + 2]
            if esc in _SIMPLE_ESCAPES:
                out.append(_SIMPLE_ESCAPES[esc])
                pos = end + 2
            elif esc == "u" and re.fullmatch(r"[0-9A-Fa-f]{4}", text[end + 2 : end + 6]):
                out.append(chr(int(text[end + 2 : end + 6], 16)))
                pos = end + 6
            else:
                raise self.error(f"invalid escape '\\{esc}' in string", end)
