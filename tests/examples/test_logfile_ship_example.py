"""The log-file shipping example writes through a LogCollector and ships every record once."""

from __future__ import annotations

import pytest

from tests.examples.loading import load_example


async def test_logfile_ship_example_delivers_every_record_once(
    capsys: pytest.CaptureFixture[str],
) -> None:
    module = load_example("logfile_ship")
    summary = await module.main(records=150, batch_size=40)
    assert summary == {
        "files": 3,  # 150 minutes from midnight: hours 00, 01 and 02
        "shipped": 150,
        "requests": 5,  # 60 + 60 + 30 records, at most 40 per request
        "reshipped": 0,
        "received": 150,
        "distinct": 150,
    }
    out = capsys.readouterr().out
    assert "server received 150 records, each once: True" in out
    assert "second run shipped 0 records" in out
