"""The Analysys-style analytics API: track, alias, profiles and super properties.

* :mod:`.api`: ``Analytics``, which builds records with
  :mod:`asyncexp.core.analytics` and hands them to a collector's ``submit``;
* :mod:`.profiles`: ``ProfileRecords``, the ``profile_*`` calls.

Plain calls that never await. The collector is reached through its protocol.

May import: asyncexp.analytics, asyncexp.core.analytics, asyncexp.errors
Types only: asyncexp.aio
Never imported by: asyncexp.core, asyncexp.aio, asyncexp.flags, asyncexp.testing
"""

from __future__ import annotations

from asyncexp.analytics.api import RECORD_ID, Analytics, AnalyticsStats

__all__ = ["RECORD_ID", "Analytics", "AnalyticsStats"]
