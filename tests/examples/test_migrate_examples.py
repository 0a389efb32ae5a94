"""The ported Analysys sample program delivers every record it made, in the reference's shape."""

from __future__ import annotations

import pytest

from tests.examples.loading import load_example


async def test_the_analysys_sample_runs_unchanged_apart_from_its_imports(
    capsys: pytest.CaptureFixture[str],
) -> None:
    module = load_example("migrate_analysys")
    received = await module.main()
    # Real-time collector: one request per record, so the order is the call order.
    assert sorted(received) == sorted(
        ["SearchCommodity", "register", "$alias", "$profile_set", "purchase", "payment"]
    )
    assert "the server received 6 records" in capsys.readouterr().out
