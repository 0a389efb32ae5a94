"""Suite-wide fixtures."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.redis_server import RedisServer


@pytest.fixture(autouse=True)
def _spool_in_tmp(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Path:
    """HTTP collectors spool by default; keep every test's spool (and its
    subprocesses') out of the user's cache directory."""
    root = tmp_path_factory.mktemp("spool")
    monkeypatch.setenv("ASYNCEXP_SPOOL_DIR", str(root))
    return root


@pytest.fixture
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """A real redis-server on 127.0.0.1 (see ``tests/redis_server.py``), stopped after."""
    server = RedisServer(tmp_path_factory.mktemp("redis"))
    server.start()
    try:
        yield server
    finally:
        server.stop()
