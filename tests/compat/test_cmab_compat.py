"""CMAB differential tests: asyncexp's ``decide_async`` against optimizely-sdk 5.7.0's
``decide``, each pointed at its own local prediction fake answering the same way
(``OptimizelySdkSettings(cmab_prediction_endpoint=...)`` for the reference).

Compared, call by call: the decision (variation, enabled, rule, variables, reasons
de-duplicated, with the random ``cmab_uuid`` masked), the prediction requests (body
and path, ``cmabUUID`` masked) and the impressions (``cmab_uuid`` in the metadata,
masked). The reference is synchronous (``requests``), so it runs in a thread while the
fakes serve on the loop.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from optimizely import optimizely as optimizely_module
from optimizely.event.event_processor import ForwardingEventProcessor
from optimizely.helpers.sdk_settings import OptimizelySdkSettings

from asyncexp.aio.cmab import HttpCmabPredictor
from asyncexp.client import Client
from asyncexp.core.flags.decision_types import DecideOption
from asyncexp.flags.cmab import CmabResolver
from asyncexp.testing import CapturingCollector, PredictionServer
from tests.aio.test_cmab import cmab_datafile
from tests.compat.conftest import CapturingDispatcher, decision_fields, same, strip_volatile

_UUID = re.compile(r"'cmab_uuid': '[^']*'")


def _mask_reasons(fields: dict[str, Any]) -> dict[str, Any]:
    fields["reasons"] = [_UUID.sub("'cmab_uuid': '*'", r) for r in fields["reasons"]]
    return fields


def _mask_request(payload: Any) -> Any:
    out = json.loads(json.dumps(payload))
    for instance in out["instances"]:
        assert isinstance(instance.pop("cmabUUID"), str)
    return out


def _mask_impression(payload: dict[str, Any]) -> dict[str, Any]:
    out = strip_volatile(payload)
    for visitor in out["visitors"]:
        for snapshot in visitor["snapshots"]:
            for decision in snapshot["decisions"]:
                metadata = decision["metadata"]
                if "cmab_uuid" in metadata:
                    assert isinstance(metadata["cmab_uuid"], str)
                    metadata["cmab_uuid"] = "*"
    return out


@dataclass
class CmabPair:
    reference: Any
    dispatcher: CapturingDispatcher
    ref_server: PredictionServer
    client: Client
    collector: CapturingCollector
    our_server: PredictionServer

    def set_variations(self, variations: dict[str, Any]) -> None:
        for server in (self.ref_server, self.our_server):
            server.variations = dict(variations)

    def fail_next(self, count: int) -> None:
        self.ref_server.fail_next = self.our_server.fail_next = count

    async def compare(
        self, what: str, user_id: str, attributes: dict[str, Any], options: list[str]
    ) -> Any:
        """One decide on each side (decide_async for asyncexp); returns asyncexp's."""
        ref_requests, our_requests = len(self.ref_server.requests), len(self.our_server.requests)
        ref_user = self.reference.create_user_context(user_id, dict(attributes))
        ours_user = self.client.create_user_context(user_id, dict(attributes))
        ref = await asyncio.to_thread(ref_user.decide, "f", list(options))
        ours = await ours_user.decide_async("f", list(options))
        assert same(_mask_reasons(decision_fields(ref)), _mask_reasons(decision_fields(ours))), what
        new_ref = self.ref_server.requests[ref_requests:]
        new_ours = self.our_server.requests[our_requests:]
        assert [(r.rule_id, r.status, _mask_request(r.payload)) for r in new_ref] == [
            (r.rule_id, r.status, _mask_request(r.payload)) for r in new_ours
        ], what
        ref_events = [_mask_impression(e.params) for e in self.dispatcher.events]
        our_events = [_mask_impression(p) for p in self.collector.payloads()]
        assert same(ref_events, our_events), what
        self.dispatcher.events.clear()
        self.collector.items.clear()
        return ours


async def _no_sleep(seconds: float) -> None:
    return None


@pytest.fixture
def quiet() -> Iterator[None]:
    previous = logging.root.manager.disable
    logging.disable(logging.CRITICAL)
    yield
    logging.disable(previous)


@pytest.fixture
async def make_cmab_pair(quiet: None) -> AsyncIterator[Any]:
    made: list[CmabPair] = []

    async def build(datafile: dict[str, Any]) -> CmabPair:
        ref_server = await PredictionServer(variations={"12": "122"}).start()
        our_server = await PredictionServer(variations={"12": "122"}).start()
        text = json.dumps(datafile)
        dispatcher = CapturingDispatcher()
        reference = optimizely_module.Optimizely(
            datafile=text,
            event_dispatcher=dispatcher,
            event_processor=ForwardingEventProcessor(dispatcher),
            settings=OptimizelySdkSettings(
                odp_disabled=True, cmab_prediction_endpoint=ref_server.endpoint
            ),
        )
        collector = CapturingCollector()
        client = Client(
            datafile=text,
            collector=collector,
            cmab_prediction_endpoint=our_server.endpoint,
            clock=lambda: 1_700_000_000.0,
            id_factory=lambda: "uuid",
        )
        # The reference sleeps 0.1 s before its retry; asyncexp's retry is not slept here.
        client._decider.cmab = CmabResolver(
            HttpCmabPredictor(client._http, endpoint=our_server.endpoint, sleep=_no_sleep),
            clock=lambda: 1_700_000_000.0,
            id_factory=lambda: "uuid",
        )
        pair = CmabPair(reference, dispatcher, ref_server, client, collector, our_server)
        made.append(pair)
        return pair

    yield build
    for pair in made:
        pair.reference.close()
        await pair.client.aclose()
        await pair.ref_server.aclose()
        await pair.our_server.aclose()


REASONS = [DecideOption.INCLUDE_REASONS]


async def test_cache_story_matches_reference(make_cmab_pair: Any) -> None:
    pair = await make_cmab_pair(cmab_datafile())
    attrs = {"age": 30, "plan": "pro", "country": "DE"}
    first = await pair.compare("miss", "u1", attrs, REASONS)
    assert "CMAB cache miss for user 'u1' and rule '12'" in first.reasons
    hit = await pair.compare("hit", "u1", attrs, REASONS)
    assert "CMAB cache hit for user 'u1' and rule '12'" in hit.reasons
    await pair.compare("non-CMAB attribute changed", "u1", {**attrs, "country": "FR"}, REASONS)
    changed = await pair.compare("CMAB attribute changed", "u1", {**attrs, "age": 31}, REASONS)
    assert any("attributes mismatch" in reason for reason in changed.reasons)
    await pair.compare("without reasons", "u1", {**attrs, "age": 31}, [])
    assert len(pair.our_server.requests) == len(pair.ref_server.requests) == 2


@pytest.mark.parametrize(
    "option",
    [
        DecideOption.IGNORE_CMAB_CACHE,
        DecideOption.RESET_CMAB_CACHE,
        DecideOption.INVALIDATE_USER_CMAB_CACHE,
    ],
)
async def test_cmab_options_match_reference(make_cmab_pair: Any, option: str) -> None:
    pair = await make_cmab_pair(cmab_datafile())
    await pair.compare("other user", "other", {"age": 1}, REASONS)
    await pair.compare("first", "u1", {"age": 30}, REASONS)
    decision = await pair.compare(option, "u1", {"age": 30}, [option, *REASONS])
    said = {
        DecideOption.IGNORE_CMAB_CACHE: "Ignoring CMAB cache for user 'u1' and rule '12'",
        DecideOption.RESET_CMAB_CACHE: "Resetting CMAB cache for user 'u1' and rule '12'",
        DecideOption.INVALIDATE_USER_CMAB_CACHE: (
            "Invalidating CMAB cache for user 'u1' and rule '12'"
        ),
    }[option]
    assert said in decision.reasons
    await pair.compare("after", "u1", {"age": 30}, REASONS)
    await pair.compare("other user after", "other", {"age": 1}, REASONS)
    assert len(pair.our_server.requests) == len(pair.ref_server.requests) >= 3


async def test_traffic_and_answers_match_reference(make_cmab_pair: Any) -> None:
    """Half the CMAB traffic; arms by user; an answer naming no variation of the rule."""
    pair = await make_cmab_pair(cmab_datafile(traffic=5000))
    pair.set_variations(
        {"12": lambda request: {"0": "121", "1": "122"}.get(request.user_id[-1:], "999")}
    )
    outside = inside = 0
    for i in range(30):
        decision = await pair.compare(f"user {i}", f"user{i}", {"age": i, "plan": "x"}, REASONS)
        outside += any("due to traffic allocation" in r for r in decision.reasons)
        inside += any("CMAB decision is" in r for r in decision.reasons)
    assert outside > 0
    assert inside > 0


async def test_fetch_failure_matches_reference(make_cmab_pair: Any) -> None:
    pair = await make_cmab_pair(cmab_datafile())
    pair.fail_next(4)
    decision = await pair.compare("retries exhausted", "u1", {"age": 30}, REASONS)
    assert decision.variation_key is None
    assert decision.reasons[-1] == "Failed to fetch CMAB data for experiment bandit."
    await pair.compare("retries exhausted, no reasons asked", "u2", {"age": 30}, [])
    pair.fail_next(1)
    recovered = await pair.compare("one retry", "u3", {"age": 30}, REASONS)
    assert recovered.variation_key == "arm_b"
    assert [r.status for r in pair.our_server.requests] == [500, 500, 500, 500, 500, 200]


async def test_unknown_rule_answer_matches_reference(make_cmab_pair: Any) -> None:
    pair = await make_cmab_pair(cmab_datafile())
    pair.set_variations({})  # 404 for every rule
    decision = await pair.compare("404", "u1", {"age": 30}, REASONS)
    assert decision.variation_key is None


async def test_plain_decide_after_decide_async_matches_reference(make_cmab_pair: Any) -> None:
    """asyncexp's plain decide serves a valid cached prediction as the reference's decide
    does on a cache hit."""
    pair = await make_cmab_pair(cmab_datafile())
    await pair.compare("fill the cache", "u1", {"age": 30}, REASONS)
    ref_user = pair.reference.create_user_context("u1", {"age": 30})
    ours_user = pair.client.create_user_context("u1", {"age": 30})
    ref = await asyncio.to_thread(ref_user.decide, "f", list(REASONS))
    ours = ours_user.decide("f", REASONS)
    assert same(_mask_reasons(decision_fields(ref)), _mask_reasons(decision_fields(ours)))
    assert len(pair.our_server.requests) == len(pair.ref_server.requests) == 1
