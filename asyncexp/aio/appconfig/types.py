"""The AppConfig shell's value types: run sources, counters and the collector contract."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from asyncexp.errors import ConfigError

__all__ = ["AppConfigStats", "AssignmentSink", "RunSource"]

_MAX_ERROR_TEXT = 300


class AssignmentSink(Protocol):
    """The collector contract used here: a plain, non-blocking ``submit``."""

    def submit(self, item: dict[str, Any], /) -> None: ...


@dataclass(frozen=True, slots=True)
class RunSource:
    """One experiment run to poll: the three ``get_experiment_run`` identifiers."""

    application: str
    experiment_definition: str
    run: int

    def __post_init__(self) -> None:
        for name in ("application", "experiment_definition"):
            if not isinstance(getattr(self, name), str) or not getattr(self, name):
                raise ConfigError("must be a non-empty string", f"RunSource.{name}")
        if isinstance(self.run, bool) or not isinstance(self.run, int) or self.run < 1:
            raise ConfigError("must be an integer ≥ 1", "RunSource.run")


@dataclass(slots=True)
class AppConfigStats:
    """Counters, readable at any time."""

    fetches: int = 0
    fetch_errors: int = 0
    rejected_runs: int = 0
    updates: int = 0
    assignments_recorded: int = 0
    assignments_dropped: int = 0
    start_timeouts: int = 0
    """Starts that returned after ``ready_timeout`` with the first round still running."""
    last_error: str | None = None


def _short(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}"
    return text if len(text) <= _MAX_ERROR_TEXT else text[: _MAX_ERROR_TEXT - 1] + "…"
