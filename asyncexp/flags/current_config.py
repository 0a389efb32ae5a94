"""``CurrentConfig``: the datafile revision a client decides with, and what follows a new one.

Rules:

* ``apply(config)`` is a plain call: the same revision twice is a no-op; for
  the ``eyeofcloud`` vendor the events endpoint is overridden; every parse
  warning is logged; then the revision is stored, ``on_update(config)`` runs
  (the client passes ODP's ``update_config``), the ready event is set and
  ``CONFIG_UPDATE`` is sent to listeners.
* ``view()`` builds the project-config view of the current revision once, on
  first use (its module is imported only then).
* The ready event is set by the first ``apply`` and never cleared; waiting for
  it is the client's (``Client.ready``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING

from asyncexp.core.flags.events import EYEOFCLOUD_EVENTS_URL
from asyncexp.flags.notifications import NotificationCenter, NotificationType

if TYPE_CHECKING:
    from asyncexp.core.flags.datafile import ProjectConfig
    from asyncexp.flags.config_view import ProjectConfigView

__all__ = ["CurrentConfig"]

# The client's logger: these lines were always logged as the client's.
logger = logging.getLogger("asyncexp.client")


class CurrentConfig:
    """Holds the ProjectConfig in use and applies each new revision."""

    __slots__ = ("_config", "_notifications", "_on_update", "_ready", "_vendor", "_view")

    def __init__(
        self,
        *,
        vendor: str,
        notifications: NotificationCenter,
        on_update: Callable[[ProjectConfig], None] | None = None,
    ) -> None:
        self._vendor = vendor
        self._notifications = notifications
        self._on_update = on_update
        self._config: ProjectConfig | None = None
        self._view: ProjectConfigView | None = None
        self._ready = asyncio.Event()

    @property
    def config(self) -> ProjectConfig | None:
        """The parsed datafile in use, or None before the first one arrives."""
        return self._config

    @property
    def revision(self) -> str | None:
        return self._config.revision if self._config is not None else None

    @property
    def ready_event(self) -> asyncio.Event:
        """Set once the first revision was applied."""
        return self._ready

    def view(self) -> ProjectConfigView | None:
        """The project-config view of the current revision, built once, on first use."""
        config = self._config
        if config is None:
            return None
        view = self._view
        if view is None or view.revision != config.revision:
            from asyncexp.flags.config_view import build_config_view  # only paid for when used

            view = self._view = build_config_view(config)
        return view

    def apply(self, config: ProjectConfig) -> None:
        """Use ``config`` from now on (see the module docstring)."""
        if self._config is not None and self._config.revision == config.revision:
            return
        if self._vendor == "eyeofcloud":
            context = replace(config.event_context, endpoint_override=EYEOFCLOUD_EVENTS_URL)
            config = replace(config, event_context=context)
        old = self.revision
        for warning in config.warnings:
            logger.warning("datafile revision %s: %s", config.revision, warning)
        self._config = config
        if self._on_update is not None:
            self._on_update(config)
        self._ready.set()
        logger.debug("datafile updated: revision %s -> %s", old, config.revision)
        if self._notifications.has_listeners(NotificationType.CONFIG_UPDATE):
            self._notifications.send(NotificationType.CONFIG_UPDATE)
