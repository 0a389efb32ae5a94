"""``ClientConfigMixin``: the datafile a ``Client`` uses, its revisions and views."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import replace
from typing import TYPE_CHECKING

from asyncexp.core.flags.events import EYEOFCLOUD_EVENTS_URL
from asyncexp.flags.notifications import NotificationCenter, NotificationType

if TYPE_CHECKING:
    from asyncexp.aio.datafile_source import DatafileSource, DatafileStats
    from asyncexp.aio.odp import OdpManager
    from asyncexp.core.flags.datafile import ProjectConfig
    from asyncexp.flags.config_view import ProjectConfigView

__all__ = ["ClientConfigMixin"]

# The client's logger: these lines were always logged as the client's.
logger = logging.getLogger("asyncexp.client")


class ClientConfigMixin:
    """Applies each new datafile revision and exposes the one in use."""

    # Set by Client.__init__.
    notifications: NotificationCenter
    _config: ProjectConfig | None
    _view: ProjectConfigView | None
    _vendor: str
    _source: DatafileSource | None
    _odp: OdpManager
    _ready: asyncio.Event

    @property
    def config(self) -> ProjectConfig | None:
        """The parsed datafile in use, or None before the first one arrives."""
        return self._config

    @property
    def datafile_stats(self) -> DatafileStats | None:
        """Polling counters (fetches, 304s, updates, errors by kind), when polling."""
        return self._source.stats if self._source is not None else None

    def get_config(self) -> ProjectConfigView | None:
        """The project-config view of the current revision, built once, on first use."""
        config = self._config
        if config is None:
            return None
        view = self._view
        if view is None or view.revision != config.revision:
            from asyncexp.flags.config_view import build_config_view  # only paid for when used

            view = self._view = build_config_view(config)
        return view

    def _apply_config(self, config: ProjectConfig) -> None:
        if self._config is not None and self._config.revision == config.revision:
            return
        if self._vendor == "eyeofcloud":
            context = replace(config.event_context, endpoint_override=EYEOFCLOUD_EVENTS_URL)
            config = replace(config, event_context=context)
        old = self._config.revision if self._config else None
        for warning in config.warnings:
            logger.warning("datafile revision %s: %s", config.revision, warning)
        self._config = config
        self._odp.update_config(config)
        self._ready.set()
        logger.debug("datafile updated: revision %s -> %s", old, config.revision)
        if self.notifications.has_listeners(NotificationType.CONFIG_UPDATE):
            self.notifications.send(NotificationType.CONFIG_UPDATE)

    def _current_config(self) -> ProjectConfig | None:
        return self._config
