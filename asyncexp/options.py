"""Typed shapes of the client's option mappings, and the checks ``Client`` runs on them.

``Client(odp_options=..., appconfig_options=..., profile_options=...)`` take
:class:`OdpOptions`, :class:`AppConfigOptions` and :class:`ProfileOptions`:
``TypedDict`` s with ``total=False``, so a dict literal
is checked by mypy (an unknown key or a value of the wrong type is a type error),
and the same shapes are checked again at run time when the client is built. A
problem raises :class:`~asyncexp.errors.ConfigError` naming the setting::

    odp_options.cache_sise: unknown option; did you mean cache_size?
    odp_options.cache_size: must be an int >= 0, got '10'

The checks read the shapes' annotations (``int``, ``float``, ``bool``, ``str``,
``None``, ``Literal``, unions, classes and callables), and the bounds in
``_BOUNDS``. The helpers ``check_number``, ``check_str`` and ``check_bool`` are the
checks of the client's own keywords.
"""

from __future__ import annotations

import difflib
import types
import typing
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, Literal, TypedDict, Union

from asyncexp.aio.checks import check_bool, check_choice, check_number, check_str, show
from asyncexp.aio.collectors.http_sender import HttpSender
from asyncexp.aio.http import RetryPolicy
from asyncexp.aio.odp.events import WaitFn
from asyncexp.aio.odp.segment_cache import AsyncSegmentCache
from asyncexp.errors import ConfigError

if TYPE_CHECKING:
    # resolved by _annotation_names() when AppConfig options are checked
    from asyncexp.core.appconfig import ExperimentRun, FeatureFlagsDocument

__all__ = [
    "AppConfigOptions",
    "OdpOptions",
    "ProfileOptions",
    "Vendor",
    "check_bool",
    "check_client_settings",
    "check_collector_fit",
    "check_number",
    "check_options",
    "check_str",
]

Vendor = Literal["optimizely", "eyeofcloud"]
"""Whose CDN serves the datafile of an ``sdk_key``."""


class OdpOptions(TypedDict, total=False):
    """``Client(odp_options=...)``: the ODP manager's settings (host and key come from
    the datafile unless given here)."""

    host: str | None
    public_key: str | None
    cache_size: int
    cache_timeout: float
    cache_bytes: int | None
    segments_timeout: float
    event_batch_size: int
    event_flush_interval: float
    event_queue_size: int
    event_request_timeout: float
    event_retry_policy: RetryPolicy
    close_timeout: float
    clock: Callable[[], float]
    wait: WaitFn
    sleep: Callable[[float], Awaitable[Any]]
    jitter: Callable[[], float]
    id_factory: Callable[[], str]
    log_interval: float
    segments_cache: AsyncSegmentCache | None


class AppConfigOptions(TypedDict, total=False):
    """``Client(appconfig_options=...)``: AppConfig experiment runs (the collector,
    sources and clock come from the client; ``ready_timeout`` and
    ``request_timeout`` default to the client's)."""

    flags: FeatureFlagsDocument | Mapping[str, Any] | bytes | str | None
    region: str | None
    account_id: str | None
    record_assignments: bool
    poll_interval: float
    max_backoff: float
    session: Any
    client_kwargs: Mapping[str, Any] | None
    sleep: Callable[[float], Awaitable[None]]
    on_update: Callable[[ExperimentRun], None] | None
    ready_timeout: float | None
    request_timeout: float
    connect_timeout: float
    max_attempts: int


class ProfileOptions(TypedDict, total=False):
    """``Client(profile_options=...)``: sticky-bucketing profile loads and the
    write-behind :class:`~asyncexp.aio.profile_saver.ProfileSaver` (used with
    ``profile_store=``; checked whether or not one is given)."""

    load_timeout: float
    """Seconds a context waits for its profile before deciding without it (0.5)."""
    load_batch_size: int
    """Users whose loads started together go to the store in batches of this many (100)."""
    max_pending: int
    """Users whose saves may wait; a new user's profile past it is dropped, counted (100,000)."""
    concurrency: int
    """Saves at a time (16)."""
    retry_base: float
    """Seconds before retrying a failed save, doubling on each failure in a row (0.1)..."""
    retry_max: float
    """...up to this many (5.0)."""
    close_timeout: float
    """Seconds the client's close gives pending saves before abandoning them (5.0)."""


# (minimum, whether the minimum itself is allowed) of numeric options.
_BOUNDS: dict[str, tuple[float, bool]] = {
    "cache_size": (0, True),
    "cache_timeout": (0, True),
    "cache_bytes": (0, True),
    "segments_timeout": (0, False),
    "event_batch_size": (1, True),
    "event_flush_interval": (0, True),
    "event_queue_size": (1, True),
    "event_request_timeout": (0, False),
    "close_timeout": (0, True),
    "log_interval": (0, True),
    "poll_interval": (0, False),
    "max_backoff": (0, False),
    "ready_timeout": (0, True),
    "request_timeout": (0, False),
    "connect_timeout": (0, False),
    "max_attempts": (1, True),
    "load_timeout": (0, False),
    "load_batch_size": (1, True),
    "max_pending": (1, True),
    "concurrency": (1, True),
    "retry_base": (0, False),
    "retry_max": (0, False),
}


def check_options(setting: str, options: object, shape: type) -> dict[str, Any]:
    """A copy of ``options`` checked against the TypedDict ``shape``; ``None`` is ``{}``.

    Raises ``ConfigError`` naming ``setting.key`` for an unknown key (with the
    nearest known one), a value of the wrong type or out of bounds."""
    if options is None:
        return {}
    if not isinstance(options, Mapping):
        raise ConfigError(f"{setting}: must be a mapping of options, got {type(options).__name__}")
    hints = typing.get_type_hints(shape, localns=_annotation_names(shape))
    checked: dict[str, Any] = {}
    for key, value in options.items():
        if not isinstance(key, str) or key not in hints:
            raise ConfigError(f"{setting}.{key}: unknown option{_suggest(key, hints)}")
        hint = hints[key]
        if not _matches(value, hint):
            raise ConfigError(f"{setting}.{key}: must be {_describe(hint)}, got {show(value)}")
        if key in _BOUNDS and isinstance(value, int | float) and not isinstance(value, bool):
            low, inclusive = _BOUNDS[key]
            if not (value >= low if inclusive else value > low):
                sign = ">=" if inclusive else ">"
                raise ConfigError(f"{setting}.{key}: must be {sign} {low:g}, got {value!r}")
        checked[key] = value
    return checked


def _annotation_names(shape: type) -> dict[str, Any] | None:
    # The AppConfig rule engine is imported only when AppConfig options are checked:
    # a client that never uses AppConfig does not pay its ~20 ms of import.
    if shape is not AppConfigOptions:
        return None
    from asyncexp.core.appconfig import ExperimentRun, FeatureFlagsDocument

    return {"ExperimentRun": ExperimentRun, "FeatureFlagsDocument": FeatureFlagsDocument}


def _suggest(key: object, known: Mapping[str, Any]) -> str:
    close = difflib.get_close_matches(str(key), list(known), n=1, cutoff=0.6)
    if close:
        return f"; did you mean {close[0]}?"
    return f" (known: {', '.join(sorted(known))})"


def _matches(value: object, hint: Any) -> bool:
    if hint is Any:
        return True
    if hint is None or hint is type(None):
        return value is None
    origin = typing.get_origin(hint)
    if origin is Union or origin is types.UnionType:
        return any(_matches(value, arg) for arg in typing.get_args(hint))
    if origin is Literal:
        return any(type(value) is type(arg) and value == arg for arg in typing.get_args(hint))
    if hint is float:
        return isinstance(value, int | float) and not isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if origin is not None:
        if origin is Callable or getattr(origin, "__name__", "") == "Callable":
            return callable(value)
        return isinstance(origin, type) and isinstance(value, origin)
    if isinstance(hint, type):
        if getattr(hint, "_is_protocol", False):
            if getattr(hint, "_is_runtime_protocol", False):
                return isinstance(value, hint)
            return True  # a static protocol: mypy's to check
        return isinstance(value, hint)
    return True


def _describe(hint: Any) -> str:
    if hint is None or hint is type(None):
        return "None"
    origin = typing.get_origin(hint)
    if origin is Union or origin is types.UnionType:
        return " or ".join(_describe(arg) for arg in typing.get_args(hint))
    if origin is Literal:
        return "one of " + ", ".join(repr(arg) for arg in typing.get_args(hint))
    if hint is int:
        return "an int"
    if hint is float:
        return "a number"
    if hint is bool:
        return "a bool"
    if hint is str:
        return "a str"
    if origin is not None and getattr(origin, "__name__", "") == "Callable":
        return "a callable"
    name = getattr(origin or hint, "__name__", str(hint))
    return f"a {name}"


def check_client_settings(values: Mapping[str, Any]) -> None:
    """The checks of ``Client(...)``'s own keywords, by name (``ConfigError`` naming one)."""
    for name in ("sdk_key", "datafile_url", "datafile_access_token", "url_template", "app_key"):
        value = values.get(name)
        check_str(name, value)
        if value == "" and name in ("sdk_key", "app_key"):
            raise ConfigError(f"{name}: must not be empty")
    check_choice("vendor", values.get("vendor", "optimizely"), typing.get_args(Vendor))
    check_number("update_interval", values.get("update_interval", 300.0))
    check_number("request_timeout", values.get("request_timeout", 10.0))
    check_number("ready_timeout", values.get("ready_timeout", 10.0), inclusive=True)
    check_number("debug", values.get("debug", 0), integer=True, inclusive=True)
    if values.get("debug", 0) not in (0, 1, 2):
        raise ConfigError(f"debug: must be 0, 1 or 2, got {values.get('debug')!r}")
    for name in ("record_ids", "odp_disabled"):
        if name in values:
            check_bool(name, values[name])
    for name in ("clock", "id_factory"):
        if values.get(name) is not None and not callable(values[name]):
            raise ConfigError(f"{name}: must be callable, got {show(values[name])}")
    options = values.get("default_decide_options")
    if options is not None and not isinstance(options, str):
        if not isinstance(options, Iterable) or isinstance(options, bytes | Mapping):
            raise ConfigError(
                "default_decide_options: must be an iterable of DecideOption values, got "
                f"{show(options)}"
            )
        if not all(isinstance(option, str) for option in options):
            raise ConfigError("default_decide_options: must hold DecideOption (str) values only")
    datafile = values.get("datafile")
    if datafile is not None and not isinstance(datafile, str | bytes | bytearray | Mapping):
        raise ConfigError(f"datafile: must be a str, bytes or a mapping, got {show(datafile)}")


def check_collector_fit(collector: object, *, app_key: str | None, assignments: bool) -> None:
    """``ConfigError`` when what the client would send cannot be sent by ``collector``:
    Analysys records (``app_key=``; AppConfig assignment events, ``assignments``) to
    an HTTP collector built without a ``url``."""
    if not isinstance(collector, HttpSender) or collector.accepts_records:
        return
    kind = type(collector).__name__
    if app_key is not None:
        raise ConfigError(
            f"app_key: analytics records need a collector with a url, and this {kind} has "
            f"none; use {kind}(url, ...) or leave app_key out"
        )
    if assignments:
        raise ConfigError(
            f"appconfig_sources: AppConfig assignment events are Analysys records and this "
            f"{kind} has no url; use {kind}(url, ...) or appconfig_options="
            '{"record_assignments": False}'
        )
