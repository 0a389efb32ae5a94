"""Impression and conversion payloads (reference §5.2–5.4)."""

from __future__ import annotations

import math
from typing import Any

import pytest

from asyncexp.client import Client
from asyncexp.core.flags.events import (
    EventContext,
    build_conversion,
    build_event_batch,
    build_impression,
    build_visitor_attributes,
    normalize_variation_id,
)
from asyncexp.errors import ValidationError
from asyncexp.testing import CapturingCollector
from tests.datafiles import base_datafile

CTX = EventContext("acct", "proj", "7")


def _client(doc: dict[str, Any] | None = None) -> tuple[Client, CapturingCollector]:
    col = CapturingCollector()
    client = Client(
        datafile=doc or base_datafile(),
        collector=col,
        clock=lambda: 1700000000.1234,
        id_factory=lambda: "fixed-uuid",
    )
    return client, col


def test_visitor_attributes_filtering_and_order() -> None:
    attrs = {
        "country": "US",
        "age": 30,
        "unknown": "dropped",
        "$opt_user_agent": "bot",
        "$opt_reserved": "by id",
        "none": None,
        "big": 2**53 + 1,
        "nan": math.nan,
        "list": [1],
        "flag": True,
    }
    ids = {
        "country": "a1",
        "age": "a2",
        "$opt_reserved": "a3",
        "none": "a4",
        "big": "a5",
        "nan": "a6",
        "list": "a7",
        "flag": "a8",
    }
    out = build_visitor_attributes(attrs, ids, bot_filtering=False)
    assert [(a["entity_id"], a["key"], a["value"]) for a in out] == [
        ("a1", "country", "US"),
        ("a2", "age", 30),
        ("$opt_user_agent", "$opt_user_agent", "bot"),
        ("a3", "$opt_reserved", "by id"),
        ("a8", "flag", True),
        ("$opt_bot_filtering", "$opt_bot_filtering", False),
    ]
    assert all(a["type"] == "custom" for a in out)
    assert build_visitor_attributes({}, {}, None) == []


@pytest.mark.parametrize(
    ("raw", "sent"),
    [("123", "123"), ("", None), (None, None), ("abc", None), ("12a", None), ("١٢", None)],
)
def test_variation_id_normalisation(raw: str | None, sent: str | None) -> None:
    assert normalize_variation_id(raw) == sent


def test_impression_shape() -> None:
    event = build_impression(
        CTX,
        user_id="u",
        attributes=[],
        layer_id="",
        experiment_id="e1",
        variation_id="55",
        flag_key="f",
        rule_key="r",
        rule_type="feature-test",
        variation_key="on",
        enabled=True,
        uuid="id",
        timestamp=5,
    )
    batch = build_event_batch([event])
    assert batch == {
        "account_id": "acct",
        "project_id": "proj",
        "revision": "7",
        "client_name": "python-sdk",
        "client_version": "5.7.0",
        "anonymize_ip": False,
        "enrich_decisions": True,
        "visitors": [
            {
                "snapshots": [
                    {
                        "decisions": [
                            {
                                "campaign_id": "e1",
                                "experiment_id": "e1",
                                "variation_id": "55",
                                "metadata": {
                                    "flag_key": "f",
                                    "rule_key": "r",
                                    "rule_type": "feature-test",
                                    "variation_key": "on",
                                    "enabled": True,
                                },
                            }
                        ],
                        "events": [
                            {
                                "entity_id": "e1",
                                "uuid": "id",
                                "key": "campaign_activated",
                                "timestamp": 5,
                            }
                        ],
                    }
                ],
                "attributes": [],
                "visitor_id": "u",
            }
        ],
    }


@pytest.mark.parametrize(
    ("tags", "revenue", "value"),
    [
        ({"revenue": 100}, 100, None),
        ({"revenue": 12.5}, None, None),
        ({"revenue": "100"}, None, None),
        ({"revenue": True}, None, None),
        ({"value": 3}, None, 3.0),
        ({"value": "1e3"}, None, 1000.0),
        ({"value": "abc"}, None, None),
        ({"value": math.nan}, None, None),
        ({"value": "inf"}, None, None),
        ({"value": False}, None, None),
        ({}, None, None),
    ],
)
def test_conversion_metrics(tags: dict[str, Any], revenue: Any, value: Any) -> None:
    event = build_conversion(
        CTX,
        user_id="u",
        attributes=[],
        event_id="ev",
        event_key="buy",
        event_tags=tags,
        uuid="id",
        timestamp=1,
    )
    body = event.visitor["snapshots"][0]["events"][0]
    assert body.get("revenue") == revenue
    assert body.get("value") == value
    assert ("revenue" in body) is (revenue is not None)
    assert body["tags"] == tags
    assert "decisions" not in event.visitor["snapshots"][0]


def test_conversion_without_tags_omits_the_key() -> None:
    event = build_conversion(
        CTX,
        user_id="u",
        attributes=[],
        event_id="ev",
        event_key="buy",
        event_tags=None,
        uuid="id",
        timestamp=1,
    )
    assert "tags" not in event.visitor["snapshots"][0]["events"][0]


def test_batches_never_mix_revisions() -> None:
    a = build_conversion(
        CTX,
        user_id="u",
        attributes=[],
        event_id="ev",
        event_key="k",
        event_tags=None,
        uuid="1",
        timestamp=1,
    )
    b = build_conversion(
        EventContext("acct", "proj", "8"),
        user_id="u",
        attributes=[],
        event_id="ev",
        event_key="k",
        event_tags=None,
        uuid="2",
        timestamp=1,
    )
    assert len(build_event_batch([a, a])["visitors"]) == 2
    with pytest.raises(ValidationError):
        build_event_batch([a, b])
    with pytest.raises(ValidationError):
        build_event_batch([])


def test_track_event_through_the_client() -> None:
    client, col = _client()
    tags = {"revenue": 4200, "category": "shoes"}
    user = client.create_user_context("u", {"age": 30, "country": "US"})
    user.track_event("purchase", tags)
    tags["category"] = "mutated later"
    (payload,) = col.payloads()
    event = payload["visitors"][0]["snapshots"][0]["events"][0]
    assert event == {
        "entity_id": "ev_buy",
        "uuid": "fixed-uuid",
        "key": "purchase",
        "timestamp": 1700000000123,
        "revenue": 4200,
        "tags": {"revenue": 4200, "category": "shoes"},
    }
    assert payload["visitors"][0]["attributes"][-1]["key"] == "$opt_bot_filtering"


def test_track_unknown_event_sends_nothing(caplog: pytest.LogCaptureFixture) -> None:
    client, col = _client()
    client.create_user_context("u").track_event("nope")
    assert col.items == []
    assert "not in datafile" in caplog.text
    with pytest.raises(TypeError):
        client.create_user_context("u").track_event("purchase", ["bad"])  # type: ignore[arg-type]


def test_impressions_follow_send_flag_decisions() -> None:
    doc = base_datafile()
    client, col = _client(doc)
    user = client.create_user_context("u", {"age": 5, "country": "FR"})
    user.decide("checkout")  # rollout decision: sent because sendFlagDecisions is on
    user.decide("checkout", ["DISABLE_DECISION_EVENT"])
    assert len(col.events) == 1
    doc["sendFlagDecisions"] = False
    client, col = _client(doc)
    user = client.create_user_context("u", {"age": 5, "country": "FR"})
    user.decide("checkout")
    assert col.events == []
    user = client.create_user_context("adult", {"age": 50})
    user.decide("checkout")  # experiment decision: always sent
    (payload,) = col.payloads()
    meta = payload["visitors"][0]["snapshots"][0]["decisions"][0]["metadata"]
    assert meta["rule_type"] == "feature-test"
    assert meta["flag_key"] == "checkout"


def test_null_decision_impression() -> None:
    doc = base_datafile()
    doc["featureFlags"][3]["rolloutId"] = ""
    client, col = _client(doc)
    d = client.create_user_context("u").decide("rollout_only")
    assert d.variation_key is None
    decision = col.payloads()[0]["visitors"][0]["snapshots"][0]["decisions"][0]
    assert decision == {
        "campaign_id": "",
        "experiment_id": "",
        "variation_id": None,
        "metadata": {
            "flag_key": "rollout_only",
            "rule_key": "",
            "rule_type": "rollout",
            "variation_key": "",
            "enabled": False,
        },
    }
