"""Event ids: version-4 UUID strings at a fraction of ``uuid.uuid4()``'s cost.

An event uuid only has to be unique (receivers de-duplicate on it); nothing
relies on it being unpredictable. So each process draws one random prefix of
80 bits from ``os.urandom`` (74 of them random once the version and variant
bits are set) and the last 48 bits count up: ``new_event_id`` is one counter
step, one xor and one format: less than half the time of formatting 128 random
bits. The count is xor-ed with a random 48-bit mask (still one id per count), so
consecutive ids do not read as a sequence.
The text is the standard RFC 4122 version-4 form. A forked child draws its own
prefix (``os.register_at_fork``), so workers of a pre-forking server never
share ids; two processes collide only if their 74-bit prefixes do. After 2**48
ids a process draws a new prefix.
"""

from __future__ import annotations

import itertools
import os

__all__ = ["new_event_id"]

_COUNTER_LIMIT = 1 << 48


class _Ids:
    __slots__ = ("counter", "mask", "prefix")

    def __init__(self) -> None:
        self.prefix = ""
        self.mask = 0
        self.counter = itertools.count()
        self.renew()

    def renew(self) -> None:
        raw = int.from_bytes(os.urandom(16), "big")
        self.mask = raw & (_COUNTER_LIMIT - 1)
        raw >>= 48  # the other 80 bits: the first four groups
        h = f"{raw:020x}"
        # version nibble 4, variant bits 10 (one of 8, 9, a, b)
        variant = "89ab"[int(h[16], 16) & 3]
        self.prefix = f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{variant}{h[17:20]}-"
        self.counter = itertools.count()


_ids = _Ids()
if hasattr(os, "register_at_fork"):  # not on Windows, which does not fork
    os.register_at_fork(after_in_child=_ids.renew)


def new_event_id() -> str:
    n = next(_ids.counter)
    if n >= _COUNTER_LIMIT:
        _ids.renew()
        n = next(_ids.counter)
    return f"{_ids.prefix}{n ^ _ids.mask:012x}"
