"""``AsyncExpProvider(...)`` checks its settings when it is built (``ConfigError`` naming each)."""

from __future__ import annotations

import json
from typing import Any

import pytest

pytest.importorskip("openfeature")

from asyncexp import Client, ConfigError
from asyncexp.integrations.openfeature import AsyncExpProvider
from tests.datafiles import base_datafile


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"init_timeout": "1"}, "init_timeout must be a number, not str"),
        ({"init_timeout": -1}, "init_timeout must be >= 0, not -1"),
        ({"init_timeout": float("nan")}, "init_timeout must be >= 0, not nan"),
        ({"error_after_failures": 0}, "error_after_failures must be an int >= 1, not 0"),
        ({"error_after_failures": 2.5}, "error_after_failures must be an int >= 1, not 2.5"),
        ({"impressions": "always"}, "impressions must be 'once_per_context' or 'every_read'"),
        ({"owns_client": "yes"}, "owns_client must be a bool, not 'yes'"),
        ({"decide_options": 5}, "decide_options must be an iterable of DecideOption values"),
        ({"decide_options": "INCLUDE_REASONS"}, "decide_options must be an iterable of"),
        ({"decide_options": [1]}, "decide_options must hold DecideOption (str) values only"),
    ],
)
def test_provider_settings_are_checked(kwargs: dict[str, Any], message: str) -> None:
    client = Client(datafile=json.dumps(base_datafile()))
    with pytest.raises(ConfigError) as info:
        AsyncExpProvider(client, **kwargs)
    assert str(info.value).startswith(message)


def test_a_generator_of_options_is_read_once() -> None:
    client = Client(datafile=json.dumps(base_datafile()))
    provider = AsyncExpProvider(client, decide_options=(o for o in ["INCLUDE_REASONS"]))
    assert provider._resolver._options == ["INCLUDE_REASONS"]  # not an exhausted generator
