"""asyncexp: asyncio-native analytics and experimentation client."""

from asyncexp.client import Client, Collector
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
    RuleSyntaxError,
    UnsupportedVersionError,
    ValidationError,
)
from asyncexp.user_context import UserContext

__version__ = "0.1.0"

__all__ = [
    "ArgumentTypeError",
    "AsyncExpError",
    "Client",
    "ClientClosedError",
    "ClientStateError",
    "Collector",
    "ConfigError",
    "DecideOption",
    "Decision",
    "DecisionContext",
    "DeliveryError",
    "EventSink",
    "ForcedDecision",
    "RuleSyntaxError",
    "UnsupportedVersionError",
    "UserContext",
    "UserProfileService",
    "ValidationError",
    "__version__",
]
