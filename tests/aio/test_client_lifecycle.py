"""Client lifecycle: async with, start/aclose idempotence, collector wiring."""

from __future__ import annotations

import asyncio

import pytest

from asyncexp import ClientClosedError
from asyncexp.client import Client
from asyncexp.errors import ConfigError
from asyncexp.testing import CapturingCollector
from tests.datafiles import base_datafile


async def test_async_with_starts_and_closes_the_collector() -> None:
    col = CapturingCollector()
    async with Client(datafile=base_datafile(), collector=col) as client:
        assert col.started
        assert not col.closed
        decision = client.create_user_context("u", {"age": 40}).decide("checkout")
        assert decision.rule_key == "checkout_test"
    assert col.closed
    assert client.closed
    assert len(col.events) == 1


async def test_close_is_idempotent_and_blocks_new_contexts() -> None:
    col = CapturingCollector()
    client = Client(datafile=base_datafile(), collector=col)
    await client.start()
    await client.start()
    await client.aclose()
    await client.aclose()
    assert col.closed
    with pytest.raises(ClientClosedError):
        client.create_user_context("u")
    with pytest.raises(ClientClosedError):
        await client.start()


async def test_bad_static_datafile_raises_at_construction() -> None:
    with pytest.raises(ConfigError):
        Client(datafile="{not json")


async def test_collector_must_have_submit() -> None:
    with pytest.raises(TypeError):
        Client(collector=object())  # type: ignore[arg-type]


async def test_analytics_free_client_without_collector_decides() -> None:
    async with Client(datafile=base_datafile()) as client:
        assert client.create_user_context("u").decide("checkout").flag_key == "checkout"


async def test_client_exposes_appconfig_with_its_collector_and_clock() -> None:
    from tests.appconfig_samples import IN_AUDIENCE, run_dict

    col = CapturingCollector()
    async with Client(collector=col, app_key="shop", clock=lambda: 1700000000.0) as client:
        client.appconfig.load_run(run_dict())
        decision = next(
            d
            for i in range(1000)
            if (d := client.appconfig.decide_treatment(f"entity-{i}", IN_AUDIENCE)).assigned
        )
    record = col.records[-1]
    assert len(col.records) == 1
    # An Analysys record: the envelope an Analysys receiver reads, the assignment inside.
    assert record["appid"] == "shop"
    assert record["xwhat"] == "AppConfigTreatmentAssignment"
    assert record["xwhen"] == 1_700_000_000_000
    assert record["xwho"].startswith("entity-")
    props = record["xcontext"]
    assert props["type"] == "AWS.AppConfig.TreatmentAssignment"
    assert props["entityId"] == record["xwho"]
    assert props["treatmentKey"] == decision.treatment_key


async def test_without_an_app_key_assignments_are_not_mixed_into_the_analysys_stream() -> None:
    from tests.appconfig_samples import IN_AUDIENCE, run_dict

    col = CapturingCollector()
    async with Client(collector=col) as client:
        client.appconfig.load_run(run_dict())
        assigned = [
            d for i in range(200) if (d := client.appconfig.decide_treatment(f"e{i}", IN_AUDIENCE))
        ]
        assert any(d.assigned for d in assigned)
    assert col.records == []  # no bare assignment-log dicts in the Analysys stream


def test_parsing_pauses_the_gc_only_while_parsing(monkeypatch: pytest.MonkeyPatch) -> None:
    import gc

    from asyncexp.flags import parsing

    states: list[bool] = []
    real = parsing.parse_datafile

    def spy(datafile: object) -> object:
        states.append(gc.isenabled())
        return real(datafile)  # type: ignore[arg-type]

    monkeypatch.setattr(parsing, "parse_datafile", spy)
    assert gc.isenabled()
    Client(datafile=base_datafile())
    assert states == [False]
    assert gc.isenabled()
    gc.disable()
    try:
        Client(datafile=base_datafile())
        assert not gc.isenabled()  # a caller's choice is left alone
    finally:
        gc.enable()
    with pytest.raises(ConfigError):
        Client(datafile="{bad")
    assert gc.isenabled()


async def test_an_analytics_only_client_starts_without_waiting_for_a_datafile() -> None:
    # No datafile and no source: no config can ever arrive, so start() must not wait
    # for one. With an hour-long ready_timeout the old behaviour hangs here.
    collector = CapturingCollector()
    client = Client(collector=collector, app_key="app", ready_timeout=3600)
    async with asyncio.timeout(30):
        await client.start()
    client.track("u1", "SearchCommodity")
    await client.aclose()
    assert [record["xwhat"] for record in collector.records] == ["SearchCommodity"]
