"""The [redis] extra is optional: importing asyncexp never imports redis."""

from __future__ import annotations

import subprocess
import sys

import pytest

from asyncexp.errors import ConfigError, MissingExtraError
from asyncexp.stores import RedisConnection, RedisProfileStore


def test_import_asyncexp_and_its_stores_does_not_import_redis() -> None:
    code = (
        "import sys, asyncexp, asyncexp.stores, asyncexp.client; "
        "print(sorted(m for m in sys.modules if m == 'redis' or m.startswith('redis.')))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert done.stdout.strip() == "[]"


async def test_without_redis_py_starting_a_store_names_the_extra(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "redis.asyncio", None)  # makes the import fail
    store = RedisProfileStore("redis://127.0.0.1:1/0")
    with pytest.raises(MissingExtraError, match=r"asyncexp\[redis\]"):
        await store.start()


@pytest.mark.parametrize("url", ["http://127.0.0.1:6379", "", "127.0.0.1:6379"])
def test_a_url_that_is_not_redis_is_refused_without_quoting_it(url: str) -> None:
    with pytest.raises(ConfigError) as caught:
        RedisConnection(url)
    assert url == "" or url not in str(caught.value)
