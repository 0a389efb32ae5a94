"""Settings are checked when ``Client(...)`` is built: ``ConfigError`` naming the setting."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest

from asyncexp import (
    AppConfigOptions,
    BatchCollector,
    Client,
    ConfigError,
    LogCollector,
    OdpOptions,
    RealtimeCollector,
    RefreshResult,
)
from asyncexp.aio.appconfig import RunSource
from asyncexp.testing import CapturingCollector
from tests.datafiles import base_datafile

DATAFILE = json.dumps(base_datafile())


def _build(**kwargs: Any) -> Client:
    return Client(**kwargs)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"sdk_key": 123}, "sdk_key: must be a str or None, got int"),
        ({"sdk_key": ""}, "sdk_key: must not be empty"),
        ({"datafile_url": b"http://x"}, "datafile_url: must be a str or None, got bytes"),
        ({"sdk_key": "k", "datafile_access_token": 5}, "datafile_access_token: must be a str"),
        ({"sdk_key": "k", "url_template": 1}, "url_template: must be a str or None"),
        ({"sdk_key": "k", "vendor": "optimizly"}, "vendor: must be one of 'optimizely'"),
        ({"sdk_key": "k", "update_interval": "5"}, "update_interval: must be a number > 0, got '5"),
        ({"sdk_key": "k", "update_interval": 0}, "update_interval: must be a number > 0, got 0"),
        ({"sdk_key": "k", "update_interval": True}, "update_interval: must be a number > 0"),
        ({"request_timeout": -1}, "request_timeout: must be a number > 0, got -1"),
        ({"ready_timeout": "10"}, "ready_timeout: must be a number >= 0, got '10'"),
        ({"debug": 3}, "debug: must be 0, 1 or 2, got 3"),
        ({"debug": "1"}, "debug: must be an int >= 0"),
        ({"record_ids": 1}, "record_ids: must be a bool, got 1"),
        ({"odp_disabled": "yes"}, "odp_disabled: must be a bool, got 'yes'"),
        ({"clock": 5}, "clock: must be callable, got 5"),
        ({"id_factory": "x"}, "id_factory: must be callable"),
        ({"datafile": 42}, "datafile: must be a str, bytes or a mapping, got 42"),
        ({"app_key": 7}, "app_key: must be a str or None, got int"),
        ({"default_decide_options": 5}, "default_decide_options: must be an iterable"),
        ({"default_decide_options": [1]}, "default_decide_options: must hold DecideOption"),
        ({"default_decide_options": {"a": 1}}, "default_decide_options: must be an iterable"),
    ],
)
def test_client_settings_are_checked_at_construction(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as info:
        _build(**kwargs)
    assert str(info.value).startswith(message)


def test_the_sdk_key_is_not_in_the_message() -> None:
    with pytest.raises(ConfigError) as info:
        _build(sdk_key="secret-sdk-key-1", update_interval="5")
    assert "secret-sdk-key-1" not in str(info.value)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"cache_sise": 10}, "odp_options.cache_sise: unknown option; did you mean cache_size?"),
        ({"cache_size": "10"}, "odp_options.cache_size: must be an int, got '10'"),
        ({"cache_size": -1}, "odp_options.cache_size: must be >= 0, got -1"),
        ({"cache_timeout": None}, "odp_options.cache_timeout: must be a number, got None"),
        ({"segments_timeout": 0}, "odp_options.segments_timeout: must be > 0, got 0"),
        ({"event_batch_size": 0}, "odp_options.event_batch_size: must be >= 1, got 0"),
        ({"host": 5}, "odp_options.host: must be a str or None, got 5"),
        ({"clock": "now"}, "odp_options.clock: must be a callable, got 'now'"),
        ({"event_retry_policy": {"max_retries": 1}}, "odp_options.event_retry_policy: must be a "),
        ({"zzz": 1}, "odp_options.zzz: unknown option (known: cache_bytes, cache_size"),
    ],
)
def test_odp_options_are_checked(options: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as info:
        _build(datafile=DATAFILE, odp_options=options)
    assert str(info.value).startswith(message)


def test_odp_options_not_a_mapping() -> None:
    with pytest.raises(ConfigError, match=r"^odp_options: must be a mapping of options, got list"):
        _build(datafile=DATAFILE, odp_options=[("cache_size", 1)])


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (
            {"poll_intervall": 5},
            "appconfig_options.poll_intervall: unknown option; did you mean poll_interval?",
        ),
        ({"poll_interval": "60"}, "appconfig_options.poll_interval: must be a number, got '60'"),
        ({"max_attempts": 0}, "appconfig_options.max_attempts: must be >= 1, got 0"),
        ({"record_assignments": "no"}, "appconfig_options.record_assignments: must be a bool"),
        ({"region": 1}, "appconfig_options.region: must be a str or None, got 1"),
    ],
)
def test_appconfig_options_are_checked(options: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as info:
        _build(datafile=DATAFILE, appconfig_options=options)
    assert str(info.value).startswith(message)


def test_valid_options_are_passed_on() -> None:
    odp: OdpOptions = {"cache_size": 0, "cache_timeout": 1.5, "host": None, "event_batch_size": 3}
    appconfig: AppConfigOptions = {"poll_interval": 30.0, "region": "eu-west-1"}
    client = Client(datafile=DATAFILE, odp_options=odp, appconfig_options=appconfig)
    assert client.odp is not None
    assert client.appconfig is not None
    assert odp == {"cache_size": 0, "cache_timeout": 1.5, "host": None, "event_batch_size": 3}


def test_the_odp_shape_covers_the_managers_keywords() -> None:
    """Every keyword OdpManager takes (but the client's own) is in OdpOptions, and back."""
    import inspect
    import typing

    from asyncexp.aio.appconfig import AppConfigExperiments
    from asyncexp.aio.odp import OdpManager

    odp = set(inspect.signature(OdpManager).parameters) - {"transport_getter", "disabled"}
    assert set(typing.get_type_hints(OdpOptions)) == odp
    appconfig = set(inspect.signature(AppConfigExperiments).parameters)
    # the keys, not get_type_hints: the AppConfig annotations resolve only when checked
    keys = AppConfigOptions.__required_keys__ | AppConfigOptions.__optional_keys__
    assert set(keys) == appconfig - {
        "collector",
        "sources",
        "clock",
    }


@pytest.mark.parametrize("collector_type", [BatchCollector, RealtimeCollector])
def test_app_key_with_a_collector_without_url(collector_type: type[BatchCollector]) -> None:
    collector = collector_type(spool=False)
    with pytest.raises(ConfigError) as info:
        Client(datafile=DATAFILE, collector=collector, app_key="app")
    name = collector_type.__name__
    assert str(info.value) == (
        f"app_key: analytics records need a collector with a url, and this {name} has "
        f"none; use {name}(url, ...) or leave app_key out"
    )


def test_appconfig_assignments_with_a_collector_without_url() -> None:
    source = RunSource("app", "exp", 1)
    with pytest.raises(ConfigError, match=r"^appconfig_sources: AppConfig assignment events"):
        Client(
            datafile=DATAFILE,
            collector=BatchCollector(spool=False),
            appconfig_sources=[source],
            appconfig_options={"session": object()},
        )
    # Not recording them is fine.
    Client(
        datafile=DATAFILE,
        collector=BatchCollector(spool=False),
        appconfig_sources=[source],
        appconfig_options={"session": object(), "record_assignments": False},
    )


def test_collectors_that_take_records_are_fine(tmp_path: Any) -> None:
    assert Client(datafile=DATAFILE, collector=CapturingCollector(), app_key="a").analytics
    log = LogCollector(tmp_path)
    assert Client(datafile=DATAFILE, collector=log, app_key="a").analytics
    batch = BatchCollector("http://127.0.0.1:9", spool=False)
    assert Client(datafile=DATAFILE, collector=batch, app_key="a").analytics
    # Without app_key a url-less collector sends only Optimizely events: accepted.
    assert Client(datafile=DATAFILE, collector=BatchCollector(spool=False)).config is not None


def test_refresh_result_truthiness() -> None:
    assert [bool(r) for r in RefreshResult] == [True, True, True, False, False]
    assert [r.value for r in RefreshResult] == [
        "updated",
        "unchanged",
        "not_modified",
        "rejected",
        "failed",
    ]
    assert RefreshResult.REJECTED.reached_server
    assert not RefreshResult.FAILED.reached_server


async def test_collector_stats_from_the_client() -> None:
    collector = BatchCollector("http://127.0.0.1:9", spool=False)
    client = Client(datafile=DATAFILE, collector=collector)
    assert client.collector_stats is collector.stats
    assert Client(datafile=DATAFILE).collector_stats is None


async def test_own_server_without_events_url_warns_once_at_start(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="asyncexp.client")
    collector = BatchCollector("http://127.0.0.1:9", spool=False)
    async with Client(datafile=DATAFILE, collector=collector) as client:
        await client.start()  # idempotent: no second warning
    warned = [r for r in caplog.records if "optimizely_events_url=" in r.getMessage()]
    assert len(warned) == 1
    assert warned[0].getMessage().startswith("BatchCollector sends analytics records to its url")
    caplog.clear()
    events = BatchCollector(
        "http://127.0.0.1:9", optimizely_events_url="http://127.0.0.1:9/e", spool=False
    )
    async with Client(datafile=DATAFILE, collector=events):
        pass
    assert not [r for r in caplog.records if "optimizely_events_url=" in r.getMessage()]


def test_default_decide_options_from_a_generator_are_applied() -> None:
    options = (o for o in ["INCLUDE_REASONS", "DISABLE_DECISION_EVENT"])
    collector = CapturingCollector()
    client = Client(datafile=DATAFILE, collector=collector, default_decide_options=options)
    decision = client.create_user_context("u", {"age": 30}).decide("checkout")
    assert decision.reasons  # INCLUDE_REASONS took effect
    assert collector.items == []  # and DISABLE_DECISION_EVENT
