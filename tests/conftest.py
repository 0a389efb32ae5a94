"""Suite-wide fixtures."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def _spool_in_tmp(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Path:
    """HTTP collectors spool by default; keep every test's spool (and its
    subprocesses') out of the user's cache directory."""
    root = tmp_path_factory.mktemp("spool")
    monkeypatch.setenv("ASYNCEXP_SPOOL_DIR", str(root))
    return root
