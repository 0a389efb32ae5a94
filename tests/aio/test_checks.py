"""``asyncexp.aio.checks``: each check names the setting and shows no more than it should."""

from __future__ import annotations

import math
from typing import Any

import pytest

from asyncexp.aio.checks import check_choice, check_http_url, check_number, show
from asyncexp.errors import ConfigError


@pytest.mark.parametrize(
    ("value", "kwargs", "message"),
    [
        ("5", {}, "x: must be a number > 0, got '5'"),
        (True, {}, "x: must be a number > 0, got True"),
        (math.nan, {}, "x: must be a number > 0, got nan"),
        (0, {}, "x: must be a number > 0, got 0"),
        (1.5, {"integer": True}, "x: must be an int > 0, got 1.5"),
        (10, {"maximum": 9, "inclusive": True}, "x: must be a number >= 0 and <= 9, got 10"),
        ([1], {"optional": True}, "x: must be a number > 0 or None, got a list"),
    ],
)
def test_check_number_refuses(value: object, kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as info:
        check_number("x", value, **kwargs)
    assert str(info.value) == message


@pytest.mark.parametrize(
    ("value", "kwargs"),
    [(1, {}), (0.5, {}), (0, {"inclusive": True}), (None, {"optional": True}), (9, {"maximum": 9})],
)
def test_check_number_accepts(value: object, kwargs: dict[str, Any]) -> None:
    check_number("x", value, **kwargs)


def test_urls_and_choices() -> None:
    check_http_url("u", "https://events.example.com/v1")
    check_http_url("u", None)
    with pytest.raises(ConfigError, match=r"^u: must be an http\(s\) URL, got 'ftp'$"):
        check_http_url("u", "ftp://user:secret@host/")  # the credentials are not shown
    with pytest.raises(ConfigError, match=r"^u: must be an http\(s\) URL, got 'no scheme'$"):
        check_http_url("u", "events.example.com")
    with pytest.raises(ConfigError, match=r"^u: must be a str or None, got bytes$"):
        check_http_url("u", b"https://x")
    with pytest.raises(ConfigError, match=r"^c: must be one of 'a', 'b', got 'z'$"):
        check_choice("c", "z", ("a", "b"))
    assert show("k" * 41) == "a str of 41 characters"
    assert show(object()) == "a object"
