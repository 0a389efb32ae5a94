"""Event ids: random version-4 UUID strings, cheaper than ``uuid.uuid4()``.

Event uuids only need to be unique, not unpredictable, so they come from the
``random`` module (reseeded by CPython in forked children) instead of
``os.urandom``; the format is the standard RFC 4122 version-4 text form.
"""

from __future__ import annotations

from random import getrandbits

__all__ = ["new_event_id"]

_CLEAR = ~((0xF000 << 64) | (0xC000 << 48))
_SET = (0x4000 << 64) | (0x8000 << 48)


def new_event_id() -> str:
    h = f"{(getrandbits(128) & _CLEAR) | _SET:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"
