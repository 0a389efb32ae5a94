"""The quick-start example (``make demo``) runs against its local server and loses nothing."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "quickstart.py"


async def test_quickstart_delivers_everything(capsys: pytest.CaptureFixture[str]) -> None:
    spec = importlib.util.spec_from_file_location("quickstart_example", EXAMPLE)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    await module.main(users=40, rows=5)
    out = capsys.readouterr().out
    assert "server received 2000 impressions" in out
    assert "and 40 analytics records" in out
    assert "delivered 2040 of 2040, dropped 0" in out
    assert "cart_copy_test" in out
