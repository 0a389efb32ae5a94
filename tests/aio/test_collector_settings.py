"""The collectors check their settings when they are built (``ConfigError`` naming each)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from asyncexp import Analytics, BatchCollector, ConfigError, LogCollector, RealtimeCollector

URL = "http://127.0.0.1:9"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"batch_size": 0}, "batch_size: must be an int >= 1, got 0"),
        ({"batch_size": "20"}, "batch_size: must be an int >= 1, got '20'"),
        ({"batch": True, "batch_size": 0}, "batch_size: must be an int >= 1, got 0"),
        ({"max_interval": -1}, "max_interval: must be a number >= 0, got -1"),
        ({"log_interval": "10"}, "log_interval: must be a number >= 0, got '10'"),
        ({"tz": "UTC"}, "tz: must be a tzinfo or None, got str"),
        ({"retry": 3}, "retry: must be a RetryPolicy or None, got int"),
        ({"writer": "append"}, "writer: must be callable, got str"),
        ({"rotation": "week"}, "rotation: must be 'hour' or 'day', got 'week'"),
    ],
)
def test_log_collector_settings(tmp_path: Path, kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as info:
        LogCollector(tmp_path, **kwargs)
    assert str(info.value).startswith(message)


def test_log_collector_directory_type() -> None:
    with pytest.raises(ConfigError, match=r"^directory: must be a str or a path, got int"):
        LogCollector(42)  # type: ignore[arg-type]


@pytest.mark.parametrize("collector_type", [BatchCollector, RealtimeCollector])
@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"optimizely_events_url": "logx.optimizely.com"}, "optimizely_events_url: must be an"),
        ({"optimizely_events_url": 5}, "optimizely_events_url: must be a str or None, got int"),
        ({"compress_level": 10}, "compress_level: must be an int >= 0 and <= 9, got 10"),
        ({"compress_level": "1"}, "compress_level: must be an int >= 0 and <= 9, got '1'"),
        ({"spool_max_bytes": 0}, "spool_max_bytes: must be an int >= 1, got 0"),
        ({"spool_on_full": "drop_all"}, "spool_on_full: must be one of 'drop_new', 'drop_oldest'"),
        ({"replay_interval": 0}, "replay_interval: must be a number > 0, got 0"),
        ({"probe_base": 0}, "probe_base: must be a number > 0, got 0"),
        ({"probe_base": 2.0, "probe_max": 1.0}, "probe_max: must be a number >= 2, got 1.0"),
        ({"log_interval": -1}, "log_interval: must be a number >= 0, got -1"),
        ({"retry": {"max_retries": 1}}, "retry: must be a RetryPolicy or None, got dict"),
        ({"request_timeout": 0}, "request_timeout: must be > 0 or None, got 0"),
        ({"memory_budget_mib": -1}, "memory_budget_mib: must be a number >= 0, got -1"),
        ({"max_queue_size": 0}, "max_queue_size: must be an int >= 1, got 0"),
    ],
)
def test_http_collector_settings(
    collector_type: type[BatchCollector], kwargs: dict[str, Any], message: str
) -> None:
    with pytest.raises(ConfigError) as info:
        collector_type(URL, spool=False, **kwargs)
    assert str(info.value).startswith(message)


def test_batch_collector_sizes() -> None:
    with pytest.raises(ConfigError, match=r"^batch_size: must be an int >= 1, got 0"):
        BatchCollector(URL, batch_size=0, spool=False)
    with pytest.raises(ConfigError, match=r"^max_concurrency: must be an int >= 1, got 0"):
        RealtimeCollector(URL, max_concurrency=0, spool=False)


def test_urls_are_public_and_analytics_needs_one() -> None:
    plain = BatchCollector(spool=False)
    assert not plain.accepts_records
    assert plain.events_url is None
    both = BatchCollector(URL, optimizely_events_url=URL + "/events", spool=False)
    assert both.accepts_records
    assert both.events_url == URL + "/events"
    with pytest.raises(ConfigError, match=r"^collector: this BatchCollector has no url"):
        Analytics(plain, app_key="app")
    assert Analytics(both, app_key="app") is not None
