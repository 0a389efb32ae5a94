"""``Client(profile_options=...)`` is a typed shape (:class:`asyncexp.ProfileOptions`),
checked when the client is built: ``ConfigError`` names the setting."""

from __future__ import annotations

import inspect
import json
import typing
from typing import Any

import pytest

from asyncexp import Client, ConfigError, ProfileOptions
from asyncexp.aio.profile_saver import ProfileSaver
from asyncexp.flags.profile_store import ProfileLoader
from tests.datafiles import base_datafile

DATAFILE = json.dumps(base_datafile())


class MemoryStore:
    """An AsyncProfileStore in a dict."""

    def __init__(self) -> None:
        self.docs: dict[str, dict[str, Any]] = {}

    async def lookup(self, user_id: str) -> dict[str, Any] | None:
        return self.docs.get(user_id)

    async def lookup_many(self, user_ids: Any) -> dict[str, dict[str, Any] | None]:
        return {user_id: self.docs.get(user_id) for user_id in user_ids}

    async def save(self, profile: dict[str, Any]) -> None:
        self.docs[profile["user_id"]] = profile


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (
            {"load_timout": 1.0},
            "profile_options.load_timout: unknown option; did you mean load_timeout?",
        ),
        (
            {"concurency": 4},
            "profile_options.concurency: unknown option; did you mean concurrency?",
        ),
        ({"zzz": 1}, "profile_options.zzz: unknown option (known: close_timeout, concurrency"),
        ({"load_timeout": "1"}, "profile_options.load_timeout: must be a number, got '1'"),
        ({"load_timeout": 0}, "profile_options.load_timeout: must be > 0, got 0"),
        ({"load_batch_size": 2.5}, "profile_options.load_batch_size: must be an int, got 2.5"),
        ({"load_batch_size": 0}, "profile_options.load_batch_size: must be >= 1, got 0"),
        ({"max_pending": True}, "profile_options.max_pending: must be an int, got True"),
        ({"max_pending": 0}, "profile_options.max_pending: must be >= 1, got 0"),
        ({"concurrency": "16"}, "profile_options.concurrency: must be an int, got '16'"),
        ({"concurrency": 0}, "profile_options.concurrency: must be >= 1, got 0"),
        ({"retry_base": None}, "profile_options.retry_base: must be a number, got None"),
        ({"retry_base": 0}, "profile_options.retry_base: must be > 0, got 0"),
        ({"retry_max": [5]}, "profile_options.retry_max: must be a number, got a list"),
        ({"retry_max": -1.0}, "profile_options.retry_max: must be > 0, got -1.0"),
        ({"close_timeout": "5"}, "profile_options.close_timeout: must be a number, got '5'"),
        ({"close_timeout": -1}, "profile_options.close_timeout: must be >= 0, got -1"),
    ],
)
def test_profile_options_are_checked(options: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as info:
        Client(datafile=DATAFILE, profile_store=MemoryStore(), profile_options=options)  # type: ignore[arg-type]
    assert str(info.value).startswith(message), str(info.value)


def test_checked_without_a_profile_store_too() -> None:
    """A typo is a mistake whether or not the store is configured yet."""
    with pytest.raises(ConfigError, match=r"^profile_options.retry_bsae: unknown option; did"):
        Client(datafile=DATAFILE, profile_options={"retry_bsae": 0.5})  # type: ignore[arg-type]


def test_profile_options_not_a_mapping() -> None:
    with pytest.raises(ConfigError, match=r"^profile_options: must be a mapping of options, got"):
        Client(datafile=DATAFILE, profile_options=[("concurrency", 1)])  # type: ignore[arg-type]


def test_valid_options_reach_the_loader_and_the_saver() -> None:
    options: ProfileOptions = {
        "load_timeout": 2,
        "load_batch_size": 7,
        "max_pending": 10,
        "concurrency": 3,
        "retry_base": 0.5,
        "retry_max": 4.0,
        "close_timeout": 0,
    }
    client = Client(datafile=DATAFILE, profile_store=MemoryStore(), profile_options=options)
    loader, saver = client._profiles, client._saver
    assert isinstance(loader, ProfileLoader)
    assert isinstance(saver, ProfileSaver)
    assert (loader._timeout, loader._batch_size) == (2.0, 7)
    assert (saver._max_pending, saver._concurrency) == (10, 3)
    assert (saver._retry_base, saver._retry_max, saver._close_timeout) == (0.5, 4.0, 0)
    assert len(options) == 7  # the caller's mapping is not consumed


def test_the_shape_covers_the_loader_and_saver_keywords() -> None:
    """Every keyword of ProfileSaver (but ``save``) and of ProfileLoader is in
    ProfileOptions, the loader's prefixed with ``load_``; but the store, and
    ``max_entries`` (the bucket-map cap of a stored document, not a client setting)."""
    saver = set(inspect.signature(ProfileSaver).parameters) - {"save"}
    loader = {
        name if name.startswith("load_") else f"load_{name}"
        for name in inspect.signature(ProfileLoader).parameters
        if name not in ("store", "max_entries")
    }
    assert set(typing.get_type_hints(ProfileOptions)) == saver | loader


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"max_pending": 0}, "max_pending: must be an int >= 1, got 0"),
        ({"concurrency": 1.5}, "concurrency: must be an int >= 1, got 1.5"),
        ({"retry_base": "0.1"}, "retry_base: must be a number > 0, got '0.1'"),
        ({"retry_max": 0}, "retry_max: must be a number > 0, got 0"),
        ({"close_timeout": -0.5}, "close_timeout: must be a number >= 0, got -0.5"),
    ],
)
def test_a_saver_built_directly_checks_its_settings(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match="^" + message.replace(".", r"\.")):
        ProfileSaver(MemoryStore().save, **kwargs)


def test_a_saver_needs_a_callable_save() -> None:
    with pytest.raises(ConfigError, match=r"^save: must be callable, got str"):
        ProfileSaver("redis://", concurrency=1)  # type: ignore[arg-type]
