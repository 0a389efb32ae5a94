"""The quick-start example (``make demo``) runs against its local server and loses nothing."""

from __future__ import annotations

import pytest

from tests.examples.loading import load_example


async def test_quickstart_delivers_everything(capsys: pytest.CaptureFixture[str]) -> None:
    module = load_example("quickstart")
    await module.main(users=40, rows=5)
    out = capsys.readouterr().out
    assert "server received 2000 impressions" in out
    assert "and 40 analytics records" in out
    assert "delivered 2040 of 2040, dropped 0" in out
    assert "cart_copy_test" in out
