"""``Analytics``: the Analysys-compatible analytics API, as plain calls.

Every method builds one record with :mod:`asyncexp.core.analytics.records`, checks it
(:mod:`asyncexp.core.analytics.validation` states the rules) and hands it to
the collector with a non-blocking ``submit``. Nothing here awaits, so the
methods may be called from coroutines, callbacks or plain functions on the
event loop's thread.

Validation policy: a record that breaks a rule raises
:class:`~asyncexp.errors.ValidationError`, whose message names the field and
the rule (``on_invalid="raise"``, the default). With ``on_invalid="drop"`` the
record is dropped instead, counted in ``stats.dropped_invalid`` and logged once
at WARNING. Soft findings (a string over 255 characters, one cut at 8192) are
logged at DEBUG, or at WARNING in debug mode 1 and 2.
"""

from __future__ import annotations

import itertools
import logging
import os
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from asyncexp.analytics.profiles import ProfileRecords, XWhen
from asyncexp.core.analytics.records import (
    BuiltRecord,
    RecordSettings,
    build_alias,
    merge_super_properties,
    track_context_common,
    track_record,
)
from asyncexp.errors import ConfigError, ValidationError

if TYPE_CHECKING:
    from asyncexp.aio.collectors.base import Collector

__all__ = ["RECORD_ID", "Analytics", "AnalyticsStats"]

RECORD_ID = "$record_id"
"""The xcontext key of each record's stable id (see ``Analytics(record_ids=)``)."""

logger = logging.getLogger("asyncexp.analytics")


def _epoch_ms() -> int:
    return time.time_ns() // 1_000_000


@dataclass(slots=True)
class AnalyticsStats:
    records: int = 0
    """Records handed to the collector."""
    dropped_invalid: int = 0
    """Records dropped by ``on_invalid="drop"``."""


class Analytics:
    """Builds Analysys records and submits them to ``collector``; owns the profile part."""

    def __init__(
        self,
        collector: Collector,
        *,
        app_key: str,
        debug: int = 0,
        on_invalid: Literal["raise", "drop"] = "raise",
        clock: Callable[[], int] = _epoch_ms,
        record_ids: bool = True,
    ) -> None:
        if on_invalid not in ("raise", "drop"):
            raise ConfigError(f"on_invalid: must be 'raise' or 'drop', got {on_invalid!r}")
        if type(record_ids) is not bool:
            raise ConfigError(f"record_ids: must be a bool, got {record_ids!r}")
        if getattr(collector, "accepts_records", True) is False:
            raise ConfigError(
                f"collector: this {type(collector).__name__} has no url, so analytics records "
                "have nowhere to go; build it with a url"
            )
        self._settings = RecordSettings(
            app_key=app_key, debug=debug, reserved_keys=1 if record_ids else 0
        )
        # "$record_id": a random per-instance prefix and a counter, unique across
        # processes and restarts, and stable through retries and the spool (it is
        # part of the encoded body), so a receiver can de-duplicate re-sends.
        self._id_prefix = os.urandom(9).hex() + "-" if record_ids else None
        self._id_counter = itertools.count(1)
        self._collector = collector
        self._drop_invalid = on_invalid == "drop"
        self._clock = clock
        self._super: dict[str, Any] = {}
        self._notice = logging.WARNING if debug else logging.DEBUG
        # Debug modes 1 and 2 show each record handed to the collector, as the Analysys
        # SDK's debug modes print what they send (records hold no secrets).
        self._show_records = debug in (1, 2)
        self.stats = AnalyticsStats()
        self._profiles = ProfileRecords(emit=self._emit, settings=self._settings)

    @property
    def app_key(self) -> str:
        return self._settings.app_key

    @property
    def debug(self) -> int:
        return self._settings.debug

    @property
    def collector(self) -> Collector:
        return self._collector

    # -- events -----------------------------------------------------------------------
    def track(
        self,
        distinct_id: str,
        event_name: str,
        properties: Mapping[str, Any] | None = None,
        *,
        platform: str | None = "python",
        is_login: bool = False,
        xwhen: XWhen = None,
    ) -> None:
        """An event; registered super properties are merged under ``properties``."""
        if (
            platform == "python"
            and is_login is False
            and xwhen is None
            and not self._super
            and type(platform) is str
        ):
            # the common shape, built without a warnings list or nested calls (same record)
            context = track_context_common(self._settings, distinct_id, event_name, properties)
            if context is not None:
                if self._id_prefix is not None:
                    context[RECORD_ID] = self._id_prefix + str(next(self._id_counter))
                record: dict[str, Any] = {
                    "appid": self._settings.app_key,
                    "xwho": distinct_id,
                    "xwhat": event_name,
                    "xwhen": self._clock(),
                    "xcontext": context,
                }
                self._collector.submit(record)
                self.stats.records += 1
                if self._show_records:
                    self._show(record)
                return
        warnings: list[str] = []
        try:  # the hot path, spelled out rather than through _emit
            record = track_record(
                self._settings,
                distinct_id,
                event_name,
                properties,
                self._super,
                platform,
                is_login,
                xwhen,
                self._clock(),
                warnings,
            )
        except ValidationError as exc:
            self._invalid(exc)
            return
        if warnings:
            self._log_warnings(warnings)
        if self._id_prefix is not None:
            record["xcontext"][RECORD_ID] = self._id_prefix + str(next(self._id_counter))
        self._collector.submit(record)
        self.stats.records += 1
        if self._show_records:
            self._show(record)

    def alias(
        self,
        alias_id: str,
        distinct_id: str,
        properties: Mapping[str, Any] | None = None,
        *,
        platform: str | None = "python",
        xwhen: XWhen = None,
    ) -> None:
        """Links the anonymous ``distinct_id`` to the login id ``alias_id``."""
        self._emit(
            build_alias,
            self._settings,
            alias_id,
            distinct_id,
            properties,
            platform=platform,
            xwhen=xwhen,
        )

    # -- profiles (the ProfileRecords part's) --------------------------------------------
    def profile_set(
        self,
        distinct_id: str,
        properties: Mapping[str, Any],
        *,
        platform: str | None = "python",
        is_login: bool = False,
        xwhen: XWhen = None,
    ) -> None:
        """Sets user properties (overwriting); nothing is sent for an empty dict."""
        self._profiles.set(
            distinct_id, properties, platform=platform, is_login=is_login, xwhen=xwhen
        )

    def profile_set_once(
        self,
        distinct_id: str,
        properties: Mapping[str, Any],
        *,
        platform: str | None = "python",
        is_login: bool = False,
        xwhen: XWhen = None,
    ) -> None:
        """Sets user properties that are not set yet."""
        self._profiles.set_once(
            distinct_id, properties, platform=platform, is_login=is_login, xwhen=xwhen
        )

    def profile_increment(
        self,
        distinct_id: str,
        properties: Mapping[str, int | float],
        *,
        platform: str | None = "python",
        is_login: bool = False,
        xwhen: XWhen = None,
    ) -> None:
        """Adds numbers to numeric user properties."""
        self._profiles.increment(
            distinct_id, properties, platform=platform, is_login=is_login, xwhen=xwhen
        )

    def profile_append(
        self,
        distinct_id: str,
        properties: Mapping[str, list[str] | tuple[str, ...]],
        *,
        platform: str | None = "python",
        is_login: bool = False,
        xwhen: XWhen = None,
    ) -> None:
        """Appends strings to list user properties."""
        self._profiles.append(
            distinct_id, properties, platform=platform, is_login=is_login, xwhen=xwhen
        )

    def profile_unset(
        self,
        distinct_id: str,
        keys: Iterable[str],
        *,
        platform: str | None = "python",
        is_login: bool = False,
        xwhen: XWhen = None,
    ) -> None:
        """Removes the named user properties."""
        self._profiles.unset(distinct_id, keys, platform=platform, is_login=is_login, xwhen=xwhen)

    def profile_delete(
        self,
        distinct_id: str,
        *,
        platform: str | None = "python",
        is_login: bool = False,
        xwhen: XWhen = None,
    ) -> None:
        """Deletes every property of the user."""
        self._profiles.delete(distinct_id, platform=platform, is_login=is_login, xwhen=xwhen)

    # -- super properties ----------------------------------------------------------------
    def register_super_properties(self, properties: Mapping[str, Any]) -> None:
        """Merges ``properties`` into every later ``track`` (at most 100; always raises)."""
        merged, warnings = merge_super_properties(self._super, properties)
        self._super = merged
        self._log_warnings(warnings)

    def unregister_super_property(self, key: str) -> None:
        self._super.pop(key, None)

    def clear_super_properties(self) -> None:
        self._super = {}

    def get_super_property(self, key: str) -> Any:
        """The registered value (lists come back as new lists), or ``None``."""
        value = self._super.get(key)
        return list(value) if type(value) is tuple else value

    def get_super_properties(self) -> dict[str, Any]:
        """A copy of every registered super property."""
        return {k: list(v) if type(v) is tuple else v for k, v in self._super.items()}

    # -- plumbing ----------------------------------------------------------------------------
    def _emit(self, build: Callable[..., BuiltRecord], *args: Any, **kwargs: Any) -> None:
        try:
            record, warnings = build(*args, now_ms=self._clock(), **kwargs)
        except ValidationError as exc:
            self._invalid(exc)
            return
        if warnings:
            self._log_warnings(warnings)
        if record is not None:
            if self._id_prefix is not None:
                record["xcontext"][RECORD_ID] = self._id_prefix + str(next(self._id_counter))
            self._collector.submit(record)
            self.stats.records += 1
            if self._show_records:
                self._show(record)

    @staticmethod
    def _show(record: dict[str, Any]) -> None:
        logger.info("analytics record sent to the collector: %s", record)

    def _invalid(self, exc: ValidationError) -> None:
        if not self._drop_invalid:
            raise exc
        self.stats.dropped_invalid += 1
        logger.warning("dropped an invalid analytics record: %s", exc)

    def _log_warnings(self, warnings: list[str]) -> None:
        for warning in warnings:
            logger.log(self._notice, "analytics record: %s", warning)
