"""asyncexp: asyncio-native analytics and experimentation client.

The package is built in wings, each with its rules at the top of its
``__init__.py`` (``tests/architecture`` enforces them):

* :mod:`asyncexp.core`: pure and synchronous (flags, analytics, appconfig);
* :mod:`asyncexp.flags`: the decision facade (user contexts, decisions);
* :mod:`asyncexp.analytics`: the Analysys-style analytics API;
* :mod:`asyncexp.aio`: the async shell (HTTP, collectors, ODP, AppConfig);
* :mod:`asyncexp.integrations`, :mod:`asyncexp.cli`, :mod:`asyncexp.testing`:
  what sits on top.

At the top level, :mod:`asyncexp.client` wires the wings together and owns
their lifecycle, :mod:`asyncexp.options` holds the typed option shapes and the
construction-time checks, and :mod:`asyncexp.errors` holds the exception tree. The rule
below covers them and this module (``asyncexp.__main__`` runs the CLI).

May import: asyncexp.aio, asyncexp.analytics, asyncexp.client, asyncexp.core,
  asyncexp.errors, asyncexp.examples_data, asyncexp.flags, asyncexp.options
Never imported by: nothing; the public names live here.

Public names load on first use (PEP 562): ``import asyncexp`` costs a few
milliseconds, and a service that decides from a static datafile never imports
aiohttp or the AppConfig rules. ``from asyncexp import Client`` and
``asyncexp.Client`` work as before.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from asyncexp.errors import (
    ArgumentTypeError,
    AsyncExpError,
    ClientClosedError,
    ClientStateError,
    ConfigError,
    DeliveryError,
    MissingExtraError,
    RuleSyntaxError,
    UnsupportedVersionError,
    ValidationError,
)

if TYPE_CHECKING:
    from asyncexp.aio.appconfig import AppConfigExperiments, RunSource
    from asyncexp.aio.collectors import (
        BatchCollector,
        Collector,
        CollectorStats,
        LogCollector,
        RealtimeCollector,
    )
    from asyncexp.aio.http import HttpSettings
    from asyncexp.aio.odp import OdpOption
    from asyncexp.aio.refresh_result import RefreshResult
    from asyncexp.analytics.api import Analytics
    from asyncexp.client import Client
    from asyncexp.core.flags.decision_types import DecideOption, DecisionContext, ForcedDecision
    from asyncexp.flags.decider import EventSink, UserProfileService
    from asyncexp.flags.decision import Decision
    from asyncexp.flags.notifications import NotificationCenter, NotificationType
    from asyncexp.flags.user_context import UserContext
    from asyncexp.options import AppConfigOptions, OdpOptions, ProfileOptions, Vendor

# public name -> the module that defines it
_LAZY: dict[str, str] = {
    "AppConfigExperiments": "asyncexp.aio.appconfig",
    "RunSource": "asyncexp.aio.appconfig",
    "BatchCollector": "asyncexp.aio.collectors",
    "Collector": "asyncexp.aio.collectors",
    "CollectorStats": "asyncexp.aio.collectors",
    "LogCollector": "asyncexp.aio.collectors",
    "RealtimeCollector": "asyncexp.aio.collectors",
    "HttpSettings": "asyncexp.aio.http",
    "OdpOption": "asyncexp.aio.odp",
    "RefreshResult": "asyncexp.aio.refresh_result",
    "Analytics": "asyncexp.analytics.api",
    "Client": "asyncexp.client",
    "DecideOption": "asyncexp.core.flags.decision_types",
    "DecisionContext": "asyncexp.core.flags.decision_types",
    "ForcedDecision": "asyncexp.core.flags.decision_types",
    "EventSink": "asyncexp.flags.decider",
    "UserProfileService": "asyncexp.flags.decider",
    "Decision": "asyncexp.flags.decision",
    "NotificationCenter": "asyncexp.flags.notifications",
    "NotificationType": "asyncexp.flags.notifications",
    "UserContext": "asyncexp.flags.user_context",
    "AppConfigOptions": "asyncexp.options",
    "OdpOptions": "asyncexp.options",
    "ProfileOptions": "asyncexp.options",
    "Vendor": "asyncexp.options",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'asyncexp' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})


__version__ = "0.1.0"

__all__ = [
    "Analytics",
    "AppConfigExperiments",
    "AppConfigOptions",
    "ArgumentTypeError",
    "AsyncExpError",
    "BatchCollector",
    "Client",
    "ClientClosedError",
    "ClientStateError",
    "Collector",
    "CollectorStats",
    "ConfigError",
    "DecideOption",
    "Decision",
    "DecisionContext",
    "DeliveryError",
    "EventSink",
    "ForcedDecision",
    "HttpSettings",
    "LogCollector",
    "MissingExtraError",
    "NotificationCenter",
    "NotificationType",
    "OdpOption",
    "OdpOptions",
    "ProfileOptions",
    "RealtimeCollector",
    "RefreshResult",
    "RuleSyntaxError",
    "RunSource",
    "UnsupportedVersionError",
    "UserContext",
    "UserProfileService",
    "ValidationError",
    "Vendor",
    "__version__",
]
