"""CMAB through ``decide_async`` against the local prediction fake (PredictionServer).

Cache hit / miss / attribute change / TTL, the three CMAB options, retries then the
error decision, coalescing of concurrent requests, ``cmab_uuid`` in the impression,
and the plain ``decide`` reading only the cache.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from asyncexp.aio.cmab import HttpCmabPredictor, prediction_body
from asyncexp.client import Client
from asyncexp.core.flags.decision_types import DecideOption
from asyncexp.errors import ConfigError
from asyncexp.flags.cmab import CmabResolver
from asyncexp.testing import CapturingCollector, PredictionServer

REASONS = [DecideOption.INCLUDE_REASONS]


def cmab_datafile(traffic: int = 10000) -> dict[str, Any]:
    """Flag "f": CMAB experiment "bandit" (id "12", arms "121"/"122", attributes "age"
    and "plan"), then a rollout serving "off" to everyone else."""

    def variation(vid: str, key: str, enabled: bool, value: str) -> dict[str, Any]:
        return {
            "id": vid,
            "key": key,
            "featureEnabled": enabled,
            "variables": [{"id": "9", "value": value}],
        }

    bandit = {
        "id": "12",
        "key": "bandit",
        "status": "Running",
        "layerId": "120",
        "audienceIds": [],
        "variations": [variation("121", "arm_a", True, "1"), variation("122", "arm_b", True, "2")],
        "trafficAllocation": [],
        "forcedVariations": {},
        "cmab": {"attributeIds": ["100", "101"], "trafficAllocation": traffic},
    }
    off = {
        "id": "13",
        "key": "everyone_else",
        "status": "Running",
        "layerId": "130",
        "audienceIds": [],
        "variations": [variation("131", "off", False, "0")],
        "trafficAllocation": [{"entityId": "131", "endOfRange": 10000}],
        "forcedVariations": {},
    }
    return {
        "version": "4",
        "accountId": "1",
        "projectId": "2",
        "revision": "3",
        "attributes": [
            {"id": "100", "key": "age"},
            {"id": "101", "key": "plan"},
            {"id": "102", "key": "country"},
        ],
        "audiences": [],
        "experiments": [bandit],
        "groups": [],
        "events": [],
        "featureFlags": [
            {
                "id": "1",
                "key": "f",
                "experimentIds": ["12"],
                "rolloutId": "2",
                "variables": [{"id": "9", "key": "x", "type": "integer", "defaultValue": "7"}],
            }
        ],
        "rollouts": [{"id": "2", "experiments": [off]}],
    }


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


async def _no_sleep(seconds: float) -> None:
    return None


@pytest.fixture
async def prediction() -> AsyncIterator[PredictionServer]:
    async with PredictionServer(variations={"12": "122"}) as server:
        yield server


@pytest.fixture
async def clock() -> Clock:
    return Clock()


@pytest.fixture
async def client(prediction: PredictionServer, clock: Clock) -> AsyncIterator[Client]:
    collector = CapturingCollector()
    client = Client(
        datafile=cmab_datafile(),
        collector=collector,
        cmab_prediction_endpoint=prediction.endpoint,
        clock=clock,
    )
    resolver = client._decider.cmab
    assert resolver is not None
    assert isinstance(resolver.predictor, HttpCmabPredictor)
    # Retries without waiting (the 0.1 s backoff itself is checked in test_retry_policy).
    client._decider.cmab = CmabResolver(
        HttpCmabPredictor(client._http, endpoint=prediction.endpoint, sleep=_no_sleep),
        clock=clock,
        id_factory=iter(f"cmab-uuid-{i}" for i in range(10**6)).__next__,
        cache=resolver.cache,
    )
    yield client
    await client.aclose()


def _collector(client: Client) -> CapturingCollector:
    collector = client._collector
    assert isinstance(collector, CapturingCollector)
    return collector


async def test_miss_then_hit_then_plain_decide(
    client: Client, prediction: PredictionServer
) -> None:
    user = client.create_user_context("u1", {"age": 30, "plan": "pro", "country": "DE"})
    first = await user.decide_async("f", REASONS)
    assert (first.variation_key, first.rule_key, first.variables) == ("arm_b", "bandit", {"x": 2})
    assert "CMAB cache miss for user 'u1' and rule '12'" in first.reasons
    assert "CMAB decision is {'variation_id': '122', 'cmab_uuid': 'cmab-uuid-0'}" in first.reasons
    assert len(prediction.requests) == 1
    request = prediction.requests[0]
    assert request.headers["Content-Type"] == "application/json"
    assert request.payload == prediction_body("12", "u1", {"100": 30, "101": "pro"}, "cmab-uuid-0")

    second = await user.decide_async("f", REASONS)
    assert second.variation_key == "arm_b"
    assert "CMAB cache hit for user 'u1' and rule '12'" in second.reasons
    assert len(prediction.requests) == 1

    plain = user.decide("f", REASONS)  # the cached answer serves the plain decide
    assert (plain.variation_key, plain.variables) == ("arm_b", {"x": 2})
    assert "CMAB cache hit for user 'u1' and rule '12'" in plain.reasons
    assert len(prediction.requests) == 1


async def test_plain_decide_without_cache_is_the_error_decision(
    client: Client, prediction: PredictionServer
) -> None:
    user = client.create_user_context("u2", {"age": 1})
    decision = user.decide("f")
    assert (decision.variation_key, decision.enabled, decision.rule_key) == (None, False, None)
    assert decision.variables == {}
    assert "Failed to fetch CMAB data for experiment bandit." in decision.reasons
    assert any("decide_async" in reason for reason in decision.reasons)
    assert prediction.requests == []
    assert _collector(client).payloads() == []  # no impression for an error decision


async def test_attribute_change_refetches(client: Client, prediction: PredictionServer) -> None:
    user = client.create_user_context("u1", {"age": 30, "country": "DE"})
    await user.decide_async("f")
    user.set_attribute("country", "FR")  # not a CMAB attribute of the rule: still a hit
    assert (
        "CMAB cache hit for user 'u1' and rule '12'"
        in (await user.decide_async("f", REASONS)).reasons
    )
    user.set_attribute("age", 31)
    assert user.decide("f").variation_key is None  # the cached entry no longer applies
    changed = await user.decide_async("f", REASONS)
    assert (
        "CMAB cache attributes mismatch for user 'u1' and rule '12', fetching new decision."
        in changed.reasons
    )
    assert changed.variation_key == "arm_b"
    assert [r.attributes for r in prediction.requests] == [{"100": 30}, {"100": 31}]


async def test_ttl_expiry(client: Client, prediction: PredictionServer, clock: Clock) -> None:
    user = client.create_user_context("u1", {"age": 30})
    await user.decide_async("f")
    clock.now += 30 * 60 - 1
    assert user.decide("f").variation_key == "arm_b"
    clock.now += 1
    assert user.decide("f").variation_key is None
    again = await user.decide_async("f", REASONS)
    assert "CMAB cache miss for user 'u1' and rule '12'" in again.reasons
    assert len(prediction.requests) == 2


async def test_ignore_cmab_cache(client: Client, prediction: PredictionServer) -> None:
    user = client.create_user_context("u1", {"age": 30})
    options = [DecideOption.IGNORE_CMAB_CACHE, DecideOption.INCLUDE_REASONS]
    for _ in range(2):
        decision = await user.decide_async("f", options)
        assert decision.variation_key == "arm_b"
        assert "Ignoring CMAB cache for user 'u1' and rule '12'" in decision.reasons
        assert not any("CMAB decision is" in reason for reason in decision.reasons)
    assert len(prediction.requests) == 2
    assert user.decide("f").variation_key is None  # nothing was cached


async def test_reset_cmab_cache(client: Client, prediction: PredictionServer) -> None:
    other = client.create_user_context("other", {"age": 5})
    await other.decide_async("f")
    user = client.create_user_context("u1", {"age": 30})
    await user.decide_async("f")
    decision = await user.decide_async("f", [DecideOption.RESET_CMAB_CACHE, *REASONS])
    assert "Resetting CMAB cache for user 'u1' and rule '12'" in decision.reasons
    assert "CMAB cache miss for user 'u1' and rule '12'" in decision.reasons
    assert len(prediction.requests) == 3
    assert other.decide("f").variation_key is None  # the whole cache was emptied
    assert user.decide("f").variation_key == "arm_b"


async def test_invalidate_user_cmab_cache(client: Client, prediction: PredictionServer) -> None:
    other = client.create_user_context("other", {"age": 5})
    await other.decide_async("f")
    user = client.create_user_context("u1", {"age": 30})
    await user.decide_async("f")
    options = [DecideOption.INVALIDATE_USER_CMAB_CACHE, *REASONS]
    decision = await user.decide_async("f", options)
    assert "Invalidating CMAB cache for user 'u1' and rule '12'" in decision.reasons
    assert "CMAB cache miss for user 'u1' and rule '12'" in decision.reasons
    assert len(prediction.requests) == 3
    assert other.decide("f").variation_key == "arm_b"  # only this user's entry went


async def test_one_failure_is_retried(client: Client, prediction: PredictionServer) -> None:
    prediction.fail_next = 1
    decision = await client.create_user_context("u1", {"age": 30}).decide_async("f")
    assert decision.variation_key == "arm_b"
    assert [r.status for r in prediction.requests] == [500, 200]


async def test_retries_exhausted_give_the_error_decision(
    client: Client, prediction: PredictionServer
) -> None:
    prediction.fail_next = 5
    user = client.create_user_context("u1", {"age": 30})
    decision = await user.decide_async("f")  # reasons come with an error decision anyway
    assert [r.status for r in prediction.requests] == [500, 500]  # one retry, as the reference
    assert (decision.variation_key, decision.enabled, decision.variables) == (None, False, {})
    assert decision.reasons[-1] == "Failed to fetch CMAB data for experiment bandit."
    assert _collector(client).payloads() == []
    # ENABLED_FLAGS_ONLY keeps the error decision (as the reference)
    all_flags = await user.decide_all_async([DecideOption.ENABLED_FLAGS_ONLY])
    assert list(all_flags) == ["f"]
    assert all_flags["f"].variation_key is None
    assert user.decide("f").variation_key is None  # a failure is not cached


async def test_unknown_rule_and_bad_body_are_failures(
    client: Client, prediction: PredictionServer
) -> None:
    prediction.variations.clear()  # every rule answered 404
    decision = await client.create_user_context("u1").decide_async("f")
    assert decision.variation_key is None
    assert [r.status for r in prediction.requests] == [404, 404]


async def test_prediction_outside_the_rule_falls_through(
    client: Client, prediction: PredictionServer
) -> None:
    prediction.variations["12"] = "999"  # not a variation of the rule
    decision = await client.create_user_context("u1").decide_async("f", REASONS)
    assert (decision.variation_key, decision.rule_key) == ("off", "everyone_else")
    assert 'User "u1" is in no variation.' in decision.reasons


async def test_outside_cmab_traffic_no_request(prediction: PredictionServer) -> None:
    client = Client(datafile=cmab_datafile(traffic=0), cmab_prediction_endpoint=prediction.endpoint)
    user = client.create_user_context("u1")
    decision = await user.decide_async("f", REASONS)
    assert decision.rule_key == "everyone_else"
    assert (
        'User "u1" not in CMAB experiment "bandit" due to traffic allocation.' in decision.reasons
    )
    assert user.decide("f").rule_key == "everyone_else"  # plain decide: no answer needed
    assert prediction.requests == []
    await client.aclose()


async def test_impression_carries_cmab_uuid(client: Client, prediction: PredictionServer) -> None:
    user = client.create_user_context("u1", {"age": 30})
    await user.decide_async("f")
    user.decide("f")  # a cache hit: the same prediction, the same uuid
    payloads = _collector(client).payloads()
    assert len(payloads) == 2
    sent_uuid = prediction.requests[0].instance["cmabUUID"]
    for payload in payloads:
        decision = payload["visitors"][0]["snapshots"][0]["decisions"][0]
        assert decision["metadata"] == {
            "flag_key": "f",
            "rule_key": "bandit",
            "rule_type": "feature-test",
            "variation_key": "arm_b",
            "enabled": True,
            "cmab_uuid": sent_uuid,
        }
        assert (decision["experiment_id"], decision["variation_id"]) == ("12", "122")


async def test_concurrent_decides_are_coalesced(
    client: Client, prediction: PredictionServer
) -> None:
    """1,000 concurrent decide_async for 100 users: one request per user."""
    prediction.variations["12"] = lambda request: "121" if int(request.user_id[1:]) % 2 else "122"
    users = [client.create_user_context(f"u{i % 100}", {"age": i % 100}) for i in range(1000)]
    decisions = await asyncio.gather(*(user.decide_async("f", REASONS) for user in users))
    assert len(prediction.requests) <= 100
    assert sorted(r.user_id or "" for r in prediction.requests) == sorted(
        f"u{i}" for i in range(100)
    )
    for user, decision in zip(users, decisions, strict=True):
        expected = "arm_a" if int(user.user_id[1:]) % 2 else "arm_b"
        assert decision.variation_key == expected
        assert any("CMAB cache" in reason for reason in decision.reasons)


async def test_decide_for_keys_async_and_unknown_keys(
    client: Client, prediction: PredictionServer
) -> None:
    user = client.create_user_context("u1", {"age": 30})
    out = await user.decide_for_keys_async(["f", "nope"])
    assert out["f"].variation_key == "arm_b"
    assert out["nope"].variation_key is None
    assert len(prediction.requests) == 1


def test_client_checks_cmab_settings() -> None:
    with pytest.raises(ConfigError, match="cmab_prediction_endpoint"):
        Client(datafile=cmab_datafile(), cmab_prediction_endpoint="http://127.0.0.1/predict")
    with pytest.raises(ConfigError, match="cmab_cache_ttl"):
        Client(datafile=cmab_datafile(), cmab_cache_ttl=-1)
    with pytest.raises(ConfigError, match="cmab_cache_size"):
        Client(datafile=cmab_datafile(), cmab_cache_size=True)


async def test_retry_policy_waits_as_the_reference(prediction: PredictionServer) -> None:
    from asyncexp.aio.http import HttpTransport

    waits: list[float] = []

    async def record(seconds: float) -> None:
        waits.append(seconds)

    transport = HttpTransport()
    predictor = HttpCmabPredictor(lambda: transport, endpoint=prediction.endpoint, sleep=record)
    prediction.fail_next = 2
    with pytest.raises(Exception, match="Exhausted all retries for CMAB request"):
        await predictor.predict("12", "u1", {}, "id")
    assert waits == [0.1]
    await transport.aclose()


class DictStore:
    """An async profile store over a dict."""

    def __init__(self, profiles: dict[str, dict[str, Any]]) -> None:
        self.profiles = profiles

    async def lookup(self, user_id: str) -> dict[str, Any] | None:
        return self.profiles.get(user_id)

    async def lookup_many(self, user_ids: Any) -> dict[str, dict[str, Any] | None]:
        return {u: self.profiles.get(u) for u in user_ids}

    async def save(self, profile: dict[str, Any]) -> None:
        self.profiles[profile["user_id"]] = profile


async def test_loaded_sticky_profile_needs_no_prediction(prediction: PredictionServer) -> None:
    """An earlier experiment decided by the loaded profile: decide_async asks nothing."""
    datafile = cmab_datafile()
    sticky = {
        "id": "11",
        "key": "sticky",
        "status": "Running",
        "layerId": "110",
        "audienceIds": [],
        "variations": [{"id": "111", "key": "kept", "featureEnabled": True, "variables": []}],
        "trafficAllocation": [],  # nobody is bucketed anew
        "forcedVariations": {},
    }
    datafile["experiments"].insert(0, sticky)
    datafile["featureFlags"][0]["experimentIds"] = ["11", "12"]
    store = DictStore(
        {"u1": {"user_id": "u1", "experiment_bucket_map": {"11": {"variation_id": "111"}}}}
    )
    async with Client(
        datafile=datafile, profile_store=store, cmab_prediction_endpoint=prediction.endpoint
    ) as client:
        user = client.create_user_context("u1", {"age": 30})
        assert await user.load_profile()
        assert (await user.decide_async("f")).variation_key == "kept"
        assert prediction.requests == []
        other = client.create_user_context("u2", {"age": 30})
        assert await other.load_profile()
        assert (await other.decide_async("f")).variation_key == "arm_b"
        assert len(prediction.requests) == 1
