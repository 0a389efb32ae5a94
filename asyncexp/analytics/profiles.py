"""``ProfileRecords``: the ``$profile_*`` records (user properties) behind ``Analytics.profile_*``.

Rules: the part builds each record with :mod:`asyncexp.core.analytics.records`
from the settings it was given and hands the builder to the ``emit`` callable
it was given (``Analytics._emit``: clock, validation policy, record ids,
submit). It keeps no other state, so it cannot submit on its own.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Any

from asyncexp.core.analytics.records import (
    RecordSettings,
    build_profile,
    build_profile_delete,
    build_profile_unset,
)

__all__ = ["Emit", "ProfileRecords", "XWhen"]

XWhen = int | datetime | None

Emit = Callable[..., None]
"""``emit(build, *args, **kwargs)``: stamp, build, check and submit one record."""


class ProfileRecords:
    """Builds ``$profile_*`` records and hands them to ``emit``."""

    __slots__ = ("_emit", "_settings")

    def __init__(self, *, emit: Emit, settings: RecordSettings) -> None:
        self._emit = emit
        self._settings = settings

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

    def set(
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

    def set_once(
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

    def increment(
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

    def append(
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

    def unset(
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

    def delete(
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
