"""Serving an aiohttp application on loopback: the shared lifecycle of the test servers.

:class:`~asyncexp.testing.ingestion_server.IngestionServer` and
:class:`~asyncexp.testing.odp_server.OdpServer` each own one :class:`LoopbackSite`.
It binds ``host`` (127.0.0.1 by default) on ``port`` (0: an ephemeral port) and
knows the port it got.
"""

from __future__ import annotations

from aiohttp import web

__all__ = ["LoopbackSite"]


class LoopbackSite:
    """Start, address and stop one ``web.Application``."""

    def __init__(self, app: web.Application, host: str, port: int) -> None:
        self.app = app
        self.host = host
        self.port = port
        self._runner: web.AppRunner | None = None
        self._bound_port: int | None = None

    async def start(self) -> None:
        self._runner = web.AppRunner(self.app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, self.host, self.port).start()
        self._bound_port = int(self._runner.addresses[0][1])

    async def aclose(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    @property
    def url(self) -> str:
        """``http://host:port`` of the running server."""
        if self._bound_port is None:
            raise RuntimeError("the server is not started")
        return f"http://{self.host}:{self._bound_port}"
