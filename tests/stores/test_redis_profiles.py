"""Sticky bucketing through Redis: two worker processes, and the reference SDK's UPS."""

from __future__ import annotations

import asyncio
import json
import logging
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import redis
from optimizely import optimizely as optimizely_module
from optimizely.user_profile import UserProfileService

from asyncexp import Client
from asyncexp.stores import RedisConnection, RedisProfileStore
from tests.redis_server import RedisServer
from tests.stores.shared import STICKY_FLAG, sticky_text

ROOT = Path(__file__).resolve().parents[2]
PREFIX = "asyncexp:ups:"


def bucketed(text: str, variation: str, count: int, skip: int = 0) -> list[str]:
    """The first ``count`` user ids a profile-less client puts in ``variation``."""
    client = Client(datafile=text)
    found = [
        uid
        for uid in (f"user-{n}" for n in range(skip, skip + 500))
        if client.create_user_context(uid).decide(STICKY_FLAG).variation_key == variation
    ]
    assert len(found) >= count
    return found[:count]


class ReferenceRedisUps(UserProfileService):  # type: ignore[misc]
    """What a reference-SDK user writes: the profile dict as JSON under one key per user."""

    def __init__(self, url: str) -> None:
        self.redis = redis.Redis.from_url(url)

    def lookup(self, user_id: str) -> dict[str, Any] | None:
        raw = self.redis.get(PREFIX + user_id)
        return json.loads(raw) if raw else None

    def save(self, user_profile: dict[str, Any]) -> None:
        self.redis.set(PREFIX + user_profile["user_id"], json.dumps(user_profile))


def worker(url: str, datafile: Path, users: list[str]) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-m", "tests.stores.profile_worker", url, str(datafile), *users],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def test_two_worker_processes_keep_the_variation_across_an_allocation_change(
    redis_server: RedisServer, tmp_path: Path
) -> None:
    rev_a = sticky_text("A")
    rev_b = sticky_text("B", treatment_end=5000)  # treatment gets no new traffic
    (tmp_path / "a.json").write_text(rev_a)
    (tmp_path / "b.json").write_text(rev_b)
    users = bucketed(rev_a, "treatment", 3)
    fresh = bucketed(rev_a, "treatment", 1, skip=600)

    a = worker(redis_server.url, tmp_path / "a.json", users)
    assert a["variations"] == dict.fromkeys(users, "treatment")
    assert a["stats"]["saves"]["saved"] == 3
    assert a["stats"]["missing"] == 3

    sync = redis.Redis.from_url(redis_server.url)
    stored = json.loads(sync.get(PREFIX + users[0]))
    assert stored == {
        "user_id": users[0],
        "experiment_bucket_map": {"exp_checkout": {"variation_id": "102"}},
    }

    b = worker(redis_server.url, tmp_path / "b.json", [*users, *fresh])
    assert b["variations"] == {**dict.fromkeys(users, "treatment"), fresh[0]: "control"}
    assert b["stats"]["found"] == 3
    assert b["stats"]["missing"] == 1
    assert b["stats"]["saves"]["saved"] == 1  # only the fresh user got a new assignment


async def test_a_profile_saved_through_the_reference_ups_is_honoured_and_vice_versa(
    redis_server: RedisServer,
) -> None:
    rev_a = sticky_text("A")
    rev_b = sticky_text("B", treatment_end=5000)
    ref_user, our_user = bucketed(rev_a, "treatment", 2)
    ups = ReferenceRedisUps(redis_server.url)

    # The reference SDK (5.7.0) buckets and saves through its UserProfileService...
    reference_a = optimizely_module.Optimizely(datafile=rev_a, user_profile_service=ups)
    assert reference_a.create_user_context(ref_user).decide(STICKY_FLAG).variation_key == (
        "treatment"
    )
    reference_a.close()
    assert ups.lookup(ref_user) is not None

    # ...and asyncexp, on the new revision, reads that profile unchanged.
    store = RedisProfileStore(redis_server.url)
    async with Client(datafile=rev_b, profile_store=store) as client:
        user = await client.create_user_context_async(ref_user)
        assert user.profile_loaded
        assert user.decide(STICKY_FLAG).variation_key == "treatment"

    # asyncexp buckets and saves (write-behind, drained at close)...
    async with Client(datafile=rev_a, profile_store=RedisProfileStore(redis_server.url)) as c:
        ours = await c.create_user_context_async(our_user)
        assert ours.decide(STICKY_FLAG).variation_key == "treatment"
    saved = ups.lookup(our_user)
    assert saved == {
        "user_id": our_user,
        "experiment_bucket_map": {"exp_checkout": {"variation_id": "102"}},
    }

    # ...and the reference SDK, on the new revision, honours what asyncexp saved.
    reference_b = optimizely_module.Optimizely(datafile=rev_b, user_profile_service=ups)
    for uid in (our_user, ref_user):
        decision = reference_b.create_user_context(uid).decide(STICKY_FLAG)
        assert decision.variation_key == "treatment"
    fresh = bucketed(rev_a, "treatment", 1, skip=700)[0]
    assert reference_b.create_user_context(fresh).decide(STICKY_FLAG).variation_key == "control"
    reference_b.close()


async def test_a_save_merges_with_entries_another_worker_stored(
    redis_server: RedisServer,
) -> None:
    rev_a = sticky_text("A")
    uid = bucketed(rev_a, "treatment", 1)[0]
    sync = redis.Redis.from_url(redis_server.url)
    async with Client(datafile=rev_a, profile_store=RedisProfileStore(redis_server.url)) as c:
        user = await c.create_user_context_async(uid)  # loaded: empty
        # another worker saves an assignment for another experiment meanwhile
        other = {"user_id": uid, "experiment_bucket_map": {"exp_other": {"variation_id": "9"}}}
        sync.set(PREFIX + uid, json.dumps(other))
        user.decide(STICKY_FLAG)
    assert json.loads(sync.get(PREFIX + uid))["experiment_bucket_map"] == {
        "exp_other": {"variation_id": "9"},
        "exp_checkout": {"variation_id": "102"},
    }


@pytest.mark.parametrize(
    "raw",
    [
        b"not json",
        b"[1, 2]",
        b'{"user_id": "u", "experiment_bucket_map": [1]}',
        b'{"user_id": "u", "experiment_bucket_map": {"exp_checkout": {"variation_id": 5}}}',
        b'{"user_id": "u", "experiment_bucket_map": {}, "pad": "' + b"x" * 70_000 + b'"}',
    ],
    ids=["not-json", "a-list", "map-is-a-list", "variation-not-str", "over-the-cap"],
)
async def test_a_garbage_profile_degrades_with_a_warning(
    redis_server: RedisServer, raw: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    rev_a = sticky_text("A")
    uid = bucketed(rev_a, "treatment", 1)[0]
    sync = redis.Redis.from_url(redis_server.url)
    sync.set(PREFIX + uid, raw)
    caplog.set_level(logging.WARNING, logger="asyncexp")
    async with Client(datafile=rev_a, profile_store=RedisProfileStore(redis_server.url)) as c:
        user = await c.create_user_context_async(uid)
        assert not user.profile_loaded
        assert user.decide(STICKY_FLAG).variation_key == "treatment"  # bucketed as usual
        stats = c.profile_stats
    assert stats is not None
    assert stats["invalid"] == 1
    assert stats["saves"]["enqueued"] == 0  # a garbage profile is never overwritten blindly
    assert sync.get(PREFIX + uid) == raw
    assert any("not a user profile" in r.getMessage() for r in caplog.records)


async def test_many_profiles_load_with_one_batched_lookup(redis_server: RedisServer) -> None:
    rev_a = sticky_text("A")
    sync = redis.Redis.from_url(redis_server.url)
    for n in range(3):
        doc = {
            "user_id": f"b{n}",
            "experiment_bucket_map": {"exp_checkout": {"variation_id": "101"}},
        }
        sync.set(PREFIX + f"b{n}", json.dumps(doc))
    connection = RedisConnection(redis_server.url)
    async with Client(datafile=rev_a, profile_store=RedisProfileStore(connection)) as c:
        users = [c.create_user_context(f"b{n}") for n in range(4)]
        calls = connection.stats.calls
        assert await c.load_profiles(users) == 4  # three found, one missing (empty)
        assert connection.stats.calls == calls + 1
        assert [u.decide(STICKY_FLAG).variation_key for u in users[:3]] == ["control"] * 3
        stats = c.profile_stats
        assert stats is not None
        assert (stats["found"], stats["missing"]) == (3, 1)
    assert not connection.started  # the pool is closed with the client


async def test_loads_started_together_are_one_round_trip(redis_server: RedisServer) -> None:
    connection = RedisConnection(redis_server.url)
    async with Client(datafile=sticky_text("A"), profile_store=RedisProfileStore(connection)) as c:
        calls = connection.stats.calls
        users = await asyncio.gather(
            *(c.create_user_context_async(f"g{n % 40}") for n in range(50))
        )
        assert all(u.profile_loaded for u in users)
        assert connection.stats.calls == calls + 1  # one lookup_many for 40 distinct users
        users[0].decide(STICKY_FLAG)
        assert users[0]._profile is not users[40]._profile  # same user, separate contexts
        stats = c.profile_stats
        assert stats is not None
        assert stats["loads"] == stats["missing"] == 50


async def test_decisions_on_an_unloaded_context_neither_read_nor_save(
    redis_server: RedisServer,
) -> None:
    rev_a = sticky_text("A")
    async with Client(datafile=rev_a, profile_store=RedisProfileStore(redis_server.url)) as c:
        c.create_user_context("never-loaded").decide(STICKY_FLAG)
        stats = c.profile_stats
    assert stats is not None
    assert stats["unloaded_decides"] == 1
    assert stats["saves"]["enqueued"] == 0
    assert redis.Redis.from_url(redis_server.url).get(PREFIX + "never-loaded") is None


def test_the_url_password_never_shows(redis_server: RedisServer) -> None:
    connection = RedisConnection("redis://user:hunter2-secret@127.0.0.1:1/0")
    assert "hunter2" not in repr(connection)
    assert "hunter2" not in repr(RedisProfileStore(connection))
