"""The ``profile_*`` methods of :class:`~asyncexp.analytics.api.Analytics` (user properties)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Any

from asyncexp.core.analytics.records import (
    BuiltRecord,
    RecordSettings,
    build_profile,
    build_profile_delete,
    build_profile_unset,
)

__all__ = ["ProfileMethods", "XWhen"]

XWhen = int | datetime | None


class ProfileMethods:
    """Mixin: builds ``$profile_*`` records and hands them to ``Analytics._emit``."""

    _settings: RecordSettings

    def _emit(self, build: Callable[..., BuiltRecord], *args: Any, **kwargs: Any) -> None:
        raise NotImplementedError  # Analytics provides it

    def _profile(
        self, op: str, distinct_id: str, properties: Any, platform: Any, is_login: Any, xwhen: Any
    ) -> None:
        self._emit(
            build_profile,
            self._settings,
            op,
            distinct_id,
            properties,
            platform=platform,
            is_login=is_login,
            xwhen=xwhen,
        )

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
        self._profile("set", distinct_id, properties, platform, is_login, xwhen)

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
        self._profile("set_once", distinct_id, properties, platform, is_login, xwhen)

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
        self._profile("increment", distinct_id, properties, platform, is_login, xwhen)

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
        self._profile("append", distinct_id, properties, platform, is_login, xwhen)

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
        self._emit(
            build_profile_unset,
            self._settings,
            distinct_id,
            keys,
            platform=platform,
            is_login=is_login,
            xwhen=xwhen,
        )

    def profile_delete(
        self,
        distinct_id: str,
        *,
        platform: str | None = "python",
        is_login: bool = False,
        xwhen: XWhen = None,
    ) -> None:
        """Deletes every property of the user."""
        self._emit(
            build_profile_delete,
            self._settings,
            distinct_id,
            platform=platform,
            is_login=is_login,
            xwhen=xwhen,
        )
