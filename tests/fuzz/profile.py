"""The hypothesis settings every fuzz test uses: reproducible in CI, scalable by hand.

* ``derandomize=True`` and no example database: the same examples run on every
  machine and every run, so a CI failure reproduces locally with the same
  command. Hypothesis still prints the failing example (and ``print_blob``).
* ``deadline=None``: no per-example timing assertion (a slow CI box must not fail
  a test). A hang or a pathological slowdown shows as the suite's own timeout.
* ``max_examples`` is set per test (200–500); ``ASYNCEXP_FUZZ_SCALE=10`` multiplies
  it for a longer local run, and ``ASYNCEXP_FUZZ_RANDOM=1`` switches to random
  exploration (new examples each run) — neither is for CI.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any, TypeVar

from hypothesis import HealthCheck, settings

__all__ = ["PROFILE", "fuzz"]

PROFILE = "asyncexp-fuzz"
_SCALE = max(1, int(os.environ.get("ASYNCEXP_FUZZ_SCALE", "1")))
_RANDOM = os.environ.get("ASYNCEXP_FUZZ_RANDOM", "") not in ("", "0")

settings.register_profile(
    PROFILE,
    derandomize=not _RANDOM,
    database=None,
    deadline=None,
    print_blob=True,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.filter_too_much,
        HealthCheck.large_base_example,
    ],
)

F = TypeVar("F", bound=Callable[..., Any])


def fuzz(max_examples: int) -> Callable[[F], F]:
    """``@fuzz(300)``: the profile with ``max_examples`` (times ``ASYNCEXP_FUZZ_SCALE``)."""
    return settings(settings.get_profile(PROFILE), max_examples=max_examples * _SCALE)
