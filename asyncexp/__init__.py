"""asyncexp: asyncio-native analytics and experimentation client."""

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

__version__ = "0.1.0"

__all__ = [
    "ArgumentTypeError",
    "AsyncExpError",
    "ClientClosedError",
    "ClientStateError",
    "ConfigError",
    "DeliveryError",
    "RuleSyntaxError",
    "UnsupportedVersionError",
    "ValidationError",
    "__version__",
]
