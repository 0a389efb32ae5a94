"""The ODP and AppConfig examples run offline and do what they print.

Each example's ``main()`` is imported by path and awaited, then its summary is
checked against what the local servers received; one subprocess run per
example checks that ``python examples/X.py`` works as a script. A few more
tests cover the behaviours of ``asyncexp.testing.odp_server.OdpServer`` that the
example does not reach (a wrong key, an unknown user).
"""

from __future__ import annotations

import subprocess
import sys
from collections import Counter
from typing import Any

import pytest

from asyncexp import Client
from asyncexp.core.appconfig import Reason, assign, parse_experiment_run
from asyncexp.testing import OdpServer
from tests.examples.loading import EXAMPLES, load_example

ASSIGNMENT = "AWS.AppConfig.TreatmentAssignment"


# -- examples/odp_segments.py -----------------------------------------------------------


async def test_odp_example_fetches_segments_and_the_decision_follows(
    capsys: pytest.CaptureFixture[str],
) -> None:
    example = load_example("odp_segments")
    summary: dict[str, Any] = await example.main()

    # Both ways of fetching succeeded and stored what the server said.
    assert summary["fetched"] == {"alice": True, "bob": True, "alice_again": True}
    assert summary["segments"] == {"alice": ["vip"], "bob": []}
    # Before the fetch nobody is in the segment audience; after it only alice is.
    off = {"variation": "off", "enabled": False, "rule": "everyone_else"}
    assert summary["before"] == {"alice": off, "bob": off}
    assert summary["after"] == {
        "alice": {"variation": "on", "enabled": True, "rule": "vip_customers"},
        "bob": off,
    }
    # One request per user (the repeat was a cache hit), with the right key, asking
    # exactly for the segments the datafile references, in first-seen order.
    assert summary["graphql_requests"] == [
        {"user_id": "alice", "audiences": ["vip", "churn_risk"], "status": 200},
        {"user_id": "bob", "audiences": ["vip", "churn_risk"], "status": 200},
    ]
    assert summary["segment_stats"]["cache_hits"] == 1
    assert summary["segment_stats"]["requests"] == 2
    assert summary["segment_stats"]["failures"] == {}
    # The ODP event reached the server before the client finished closing.
    assert summary["event_requests"] == [202]
    [event] = summary["events_received"]
    assert event["type"] == "fullstack"
    assert event["action"] == "purchase"
    assert event["identifiers"] == {"email": "alice@example.com", "fs_user_id": "alice"}
    assert event["data"]["sku"] == "banner-upsell"
    assert event["data"]["amount"] == 42.5
    assert event["data"]["data_source"] == "python-sdk"
    assert summary["event_stats"]["delivered"] == 1
    assert summary["event_stats"]["dropped"] == {}

    out = capsys.readouterr().out
    assert "alice  fetched=True" in out
    assert "off (everyone_else) -> on (vip_customers)" in out
    assert "ODP events received: ['purchase']; delivered 1, dropped 0" in out


async def test_odp_server_refuses_a_wrong_public_key() -> None:
    example = load_example("odp_segments")
    async with OdpServer(api_key="the-real-key") as odp:
        odp.qualified = {"alice": {"vip"}}
        async with Client(datafile=example.datafile(odp.url)) as client:
            user = client.create_user_context("alice")
            assert await user.fetch_qualified_segments() is False
            assert user.get_qualified_segments() is None
            client.send_odp_event("purchase", identifiers={"fs_user_id": "alice"})
            await client.odp.flush_events()
            assert client.odp.stats.events.dropped == {"rejected": 1}
    assert [r.status for r in odp.graphql_requests] == [401]
    assert [r.status for r in odp.event_requests] == [401]
    assert odp.events == []


async def test_odp_server_answers_an_unknown_user_with_invalid_identifier() -> None:
    example = load_example("odp_segments")
    async with OdpServer(api_key=example.PUBLIC_KEY, default_qualified={"vip"}) as odp:
        odp.invalid_identifiers = {"ghost"}
        async with Client(datafile=example.datafile(odp.url)) as client:
            ghost = client.create_user_context("ghost")
            ghost.set_qualified_segments(["churn_risk"])
            assert await ghost.fetch_qualified_segments() is False
            # A failed fetch keeps the segments the user had.
            assert ghost.get_qualified_segments() == ["churn_risk"]
            assert client.odp.stats.segments.failures == {"invalid_identifier": 1}
            # A user the server has no entry for gets ``default_qualified``.
            carol = client.create_user_context("carol")
            assert await carol.fetch_qualified_segments() is True
            assert carol.get_qualified_segments() == ["vip"]
    assert [r.user_id for r in odp.graphql_requests] == ["ghost", "carol"]


async def test_odp_server_wait_until_sees_events_without_sleeping() -> None:
    example = load_example("odp_segments")
    async with OdpServer() as odp:  # no api_key: any key is accepted
        client = Client(datafile=example.datafile(odp.url))
        async with client:
            client.send_odp_event("login", identifiers={"fs_user_id": "dan"})
            client.send_odp_event("logout", identifiers={"fs_user_id": "dan"})
            await client.odp.flush_events()
            await odp.wait_until(lambda s: len(s.events) >= 2)
            assert [e["action"] for e in odp.events] == ["login", "logout"]
            assert odp.event_requests[0].headers["x-api-key"] == example.PUBLIC_KEY


# -- examples/appconfig_run.py ----------------------------------------------------------


async def test_appconfig_example_assigns_deterministically_and_ships_assignments(
    capsys: pytest.CaptureFixture[str],
) -> None:
    example = load_example("appconfig_run")
    summary: dict[str, Any] = await example.main(users=300)

    assert summary["run"] == "shop1:btn2026:1"
    rows = {row["entity_id"]: row for row in summary["samples"]}
    assert rows["qa-anna"] == {
        "entity_id": "qa-anna",
        "reason": "OVERRIDE",
        "treatment": "red",
        "variant": "__red_override__",
        "enabled": True,
        "color": "red",
    }
    assert rows["user-2"]["reason"] == "ASSIGNED"
    assert rows["user-1"]["reason"] == "NOT_EXPOSED"
    assert (rows["user-3"]["reason"], rows["user-4"]["reason"]) == (
        "NOT_IN_AUDIENCE",
        "NOT_IN_AUDIENCE",
    )
    assert rows["user-6"]["reason"] == "AUDIENCE_UNKNOWN"
    # Users outside the experiment get the flag's deployed value, not nothing.
    for entity in ("user-1", "user-3", "user-4", "user-6"):
        assert (rows[entity]["treatment"], rows[entity]["color"]) == (None, "blue")
        assert rows[entity]["enabled"] is True

    # The split covers every user, and every arm got someone.
    split = summary["split"]
    assert sum(split.values()) == 300
    assert set(split) == {"c", "red", "green", "NOT_EXPOSED"}
    assert sum(count for key, count in split.items() if key != "NOT_EXPOSED") == len(
        summary["assigned"]
    )

    # An evaluator built here from the same response agrees with every decision.
    run = parse_experiment_run(example.RUN)
    in_audience = {"country": "US", "age": 30}
    for i in range(300):
        entity = f"visitor-{i}"
        expected = assign(run, entity, in_audience)
        assert summary["assigned"].get(entity) == expected.treatment_key
        assert expected.reason in (Reason.ASSIGNED, Reason.NOT_EXPOSED)
    assert summary["replica_disagreements"] == 0

    # Every assigned decision (samples included) reached the collector's server once.
    sample_assigned = [row for row in summary["samples"] if row["treatment"] is not None]
    records = summary["records"]
    assert len(records) == len(summary["assigned"]) + len(sample_assigned)
    assert summary["assignments_recorded"] == len(records)
    assert summary["assignments_dropped"] == 0
    received = {r["entityId"]: r["treatmentKey"] for r in records}
    assert received == {
        **summary["assigned"],
        **{row["entity_id"]: row["treatment"] for row in sample_assigned},
    }
    assert summary["records_by_treatment"] == dict(Counter(received.values()))
    for record in records:
        assert record["type"] == ASSIGNMENT
        assert (record["applicationId"], record["experimentDefinitionId"]) == ("shop1", "btn2026")
        assert record["experimentRunNumber"] == "1"
        assert record["region"] == "us-east-1"
        assert record["timestamp"].endswith("Z")
    assert summary["collector"]["delivered"] == summary["collector"]["produced"] == len(records)

    out = capsys.readouterr().out
    assert "qa-anna   OVERRIDE          red" in out
    assert f"assignment records received by the collector server: {len(records)}" in out

    # A second run of the example assigns everyone exactly the same way.
    again: dict[str, Any] = await example.main(users=300)
    assert again["assigned"] == summary["assigned"]
    assert again["split"] == split


# -- both, as scripts ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("script", "expected"),
    [
        ("odp_segments.py", "off (everyone_else) -> on (vip_customers)"),
        ("appconfig_run.py", "an independent evaluator disagreed on 0"),
    ],
)
def test_examples_run_as_scripts(script: str, expected: str) -> None:
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / script)],
        capture_output=True,
        text=True,
        timeout=120,  # a guard against a hang, not a timing assertion
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert expected in result.stdout
