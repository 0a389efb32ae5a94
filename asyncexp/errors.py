"""The exception tree of asyncexp.

Every exception the library raises on purpose derives from one root, so a
caller can catch ``AsyncExpError`` and know it came from here::

    AsyncExpError
    ├── ArgumentTypeError (also TypeError)   a public call got the wrong type
    ├── ConfigError (also ValueError)        a datafile, rule or setting is malformed
    │   ├── UnsupportedVersionError          a datafile version this client cannot read
    │   └── RuleSyntaxError                  an AppConfig rule does not parse (has .position)
    ├── ValidationError (also ValueError)    an analytics record breaks a documented rule
    ├── ClientStateError (also RuntimeError) the client is used in the wrong lifecycle state
    │   └── ClientClosedError                a call after close
    ├── DeliveryError                        a request to a server failed (collectors, fetchers)
    └── MissingExtraError (also ImportError) an optional extra is needed, e.g. asyncexp[aws]

Decisions never raise for unknown flags or a missing config: they return a
decision whose reasons say what happened, as the Optimizely reference does.
"""

from __future__ import annotations

__all__ = [
    "ArgumentTypeError",
    "AsyncExpError",
    "ClientClosedError",
    "ClientStateError",
    "ConfigError",
    "DeliveryError",
    "MissingExtraError",
    "RuleSyntaxError",
    "UnsupportedVersionError",
    "ValidationError",
]


class AsyncExpError(Exception):
    """Root of every exception raised by asyncexp."""


class ArgumentTypeError(AsyncExpError, TypeError):
    """A public API was called with an argument of the wrong type."""


class ConfigError(AsyncExpError, ValueError):
    """Malformed configuration input; ``path`` points into the JSON when known."""

    def __init__(self, message: str, path: str = "") -> None:
        self.path = path
        super().__init__(f"{path}: {message}" if path else message)


class UnsupportedVersionError(ConfigError):
    """The datafile declares a version this client does not support."""


class RuleSyntaxError(ConfigError):
    """A rule expression does not parse; ``position`` is the 0-based offset."""

    def __init__(self, message: str, position: int, path: str = "") -> None:
        self.position = position
        super().__init__(f"{message} at position {position}", path)


class ValidationError(AsyncExpError, ValueError):
    """An analytics record or argument breaks a documented validation rule."""


class ClientStateError(AsyncExpError, RuntimeError):
    """The client was used in a lifecycle state that does not allow the call."""


class DeliveryError(AsyncExpError):
    """A request to a remote server failed after its retry budget."""


class ClientClosedError(ClientStateError):
    """The client (or collector) was already closed."""


class MissingExtraError(AsyncExpError, ImportError):
    """An optional dependency is not installed (for example ``pip install 'asyncexp[aws]'``)."""
