"""Bounds of AppConfig polling: botocore timeouts and retries, the answer size cap.

Rules:

* Every botocore client the poller opens gets ``connect_timeout`` (default 5 s),
  ``read_timeout`` (default 10 s, the client's ``request_timeout``) and
  ``retries={"mode": "standard", "total_max_attempts": max_attempts}`` (default
  2: one retry). botocore's own defaults (60 s, 60 s, five legacy attempts) made
  a start against an endpoint that accepts and never answers take 306 s. A
  ``config`` given in ``client_kwargs`` is merged over these: its explicit
  values win.
* A ``get_experiment_run`` answer larger than ``MAX_RUN_RESPONSE_BYTES`` (4 MiB,
  the size cap of an AppConfig configuration profile; a real run is a few KB) is
  refused before botocore parses it, with :class:`RunResponseTooLargeError`; the run
  already loaded stays. The parsed run is bounded by the core parser (at most 5
  treatments, 32 overrides, rules under 16 KiB), and the poller keeps one run
  per source.
"""

from __future__ import annotations

import importlib
from typing import Any

from asyncexp.errors import DeliveryError

__all__ = [
    "DEFAULT_CONNECT_TIMEOUT",
    "DEFAULT_MAX_ATTEMPTS",
    "DEFAULT_READ_TIMEOUT",
    "MAX_RUN_RESPONSE_BYTES",
    "RUN_PARSE_EVENT",
    "RunResponseTooLargeError",
    "botocore_config",
    "check_run_response_size",
]

DEFAULT_CONNECT_TIMEOUT = 5.0
DEFAULT_READ_TIMEOUT = 10.0
DEFAULT_MAX_ATTEMPTS = 2
MAX_RUN_RESPONSE_BYTES = 4 * 1024 * 1024
RUN_PARSE_EVENT = "before-parse.appconfig.GetExperimentRun"


class RunResponseTooLargeError(DeliveryError):
    """A ``get_experiment_run`` answer over ``MAX_RUN_RESPONSE_BYTES``: not parsed."""


def botocore_config(
    *,
    connect_timeout: float,
    read_timeout: float,
    max_attempts: int,
    user_config: Any = None,
) -> Any:
    """An ``AioConfig`` with the bounds above, ``user_config`` merged over it."""
    module = importlib.import_module("aiobotocore.config")
    ours = module.AioConfig(
        connect_timeout=connect_timeout,
        read_timeout=read_timeout,
        retries={"mode": "standard", "total_max_attempts": max_attempts},
    )
    return ours if user_config is None else ours.merge(user_config)


def check_run_response_size(response_dict: dict[str, Any] | None = None, **_: Any) -> None:
    """botocore ``before-parse`` handler: refuse an oversized body before it is parsed."""
    body = (response_dict or {}).get("body")
    if isinstance(body, bytes | bytearray) and len(body) > MAX_RUN_RESPONSE_BYTES:
        raise RunResponseTooLargeError(
            f"get_experiment_run answer of {len(body)} bytes exceeds the "
            f"{MAX_RUN_RESPONSE_BYTES}-byte cap; not parsed"
        )
