"""asyncexp: asyncio-native analytics and experimentation client."""

from asyncexp.aio.appconfig import AppConfigExperiments, RunSource
from asyncexp.aio.collectors import (
    BatchCollector,
    Collector,
    CollectorStats,
    LogCollector,
    RealtimeCollector,
)
from asyncexp.aio.odp import OdpOption
from asyncexp.analytics import Analytics
from asyncexp.client import Client
from asyncexp.core.decision_types import DecideOption, DecisionContext, ForcedDecision
from asyncexp.decider import EventSink, UserProfileService
from asyncexp.decision import Decision
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
from asyncexp.notifications import NotificationCenter, NotificationType
from asyncexp.user_context import UserContext

__version__ = "0.1.0"

__all__ = [
    "Analytics",
    "AppConfigExperiments",
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
    "LogCollector",
    "MissingExtraError",
    "NotificationCenter",
    "NotificationType",
    "OdpOption",
    "RealtimeCollector",
    "RuleSyntaxError",
    "RunSource",
    "UnsupportedVersionError",
    "UserContext",
    "UserProfileService",
    "ValidationError",
    "__version__",
]
