"""Parsing a datafile in the shell: the pure parser, with the cyclic GC paused.

A datafile turns into thousands of small objects and none of them are garbage
while it is being built, yet the allocations trigger collections that walk the
whole heap: in a service with a large heap that doubled construction time
(``benchmarks/bench_decide.py``). The collector is paused only for the parse and
only if it was running; the core stays pure (this module is not in it).
"""

from __future__ import annotations

import gc
from collections.abc import Mapping
from typing import Any

from asyncexp.core.flags.datafile import ProjectConfig, parse_datafile

__all__ = ["parse_datafile_fast"]


def parse_datafile_fast(datafile: str | bytes | Mapping[str, Any]) -> ProjectConfig:
    was_enabled = gc.isenabled()
    if was_enabled:
        gc.disable()
    try:
        return parse_datafile(datafile)
    finally:
        if was_enabled:
            gc.enable()
