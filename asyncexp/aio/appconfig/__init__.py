"""AWS AppConfig experiment runs and feature flags, fetched and evaluated in-process.

* :mod:`.experiments` holds :class:`AppConfigExperiments`, the facade a client
  owns: decisions from the runs it holds, assignment events to the collector;
* :mod:`.polling` holds :class:`AppConfigPoller`, owned by the facade: it fetches
  each source's run with aiobotocore on a schedule;
* :mod:`.types` holds the settings and counters they share.

Evaluation itself is pure and lives in :mod:`asyncexp.core.appconfig`.
"""

from __future__ import annotations

from asyncexp.aio.appconfig.experiments import AppConfigExperiments
from asyncexp.aio.appconfig.types import AppConfigStats, AssignmentSink, RunSource
from asyncexp.errors import MissingExtraError

__all__ = [
    "AppConfigExperiments",
    "AppConfigStats",
    "AssignmentSink",
    "MissingExtraError",
    "RunSource",
]
