"""Impressions and conversions of users whose text cannot be encoded, in a child process.

A user id (or attribute, or tag) with a lone surrogate decides without
crashing, but its event cannot be sent as JSON. The outbox drops it before it
reaches a batch (``Outbox.dropped["unencodable"]``), so the batch of the other
users' events still arrives whole at an ``IngestionServer``, and the decision
is still returned. Run in ``python -c`` so a crash fails the test instead of
killing pytest.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]

CHILD = """
import asyncio, json, logging
logging.disable(logging.CRITICAL)
from asyncexp import BatchCollector, Client
from asyncexp.testing import IngestionServer
from tests.datafiles import base_datafile
BAD = "\\ud800"

async def main():
    async with IngestionServer() as ingest:
        collector = BatchCollector(
            ingest.url, max_interval=3600.0, optimizely_events_url=ingest.events_url,
            spool=False,
        )
        async with Client(datafile=json.dumps(base_datafile()), collector=collector) as client:
            decided = []
            for user_id, attributes in USERS:
                user = client.create_user_context(user_id, dict(attributes, age=30))
                decision = user.decide("checkout")
                decided.append(decision.variation_key is not None)
                if TRACK:
                    user.track_event(TRACK, TAGS if user_id.startswith("tagged") else None)
            await client.flush()
            visitors = [v["visitor_id"] for b in ingest.event_batches for v in b["visitors"]]
            stats = client.collector_stats
            print(json.dumps({
                "decided": decided,
                "visitors": visitors,
                "outbox": client._outbox.dropped,
                "collector_dropped": stats.dropped if stats is not None else None,
                "batches": len(ingest.event_batches),
            }))

asyncio.run(main())
"""


def run(users: list[tuple[str, dict[str, Any]]], track: str = "", tags: Any = None) -> Any:
    head = f"USERS = {users!r}\nTRACK = {track!r}\nTAGS = {tags!r}\n"
    code = textwrap.dedent(CHILD).replace("BAD = ", head + "BAD = ", 1)
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, f"child died ({done.returncode}): {done.stderr[-2000:]}"
    return json.loads(done.stdout.strip().splitlines()[-1])


NORMAL = [f"user-{i}" for i in range(6)] + ["é-ünïcode", "\U0001f600-astral"]


def test_a_surrogate_user_id_costs_only_its_own_impression() -> None:
    users = [(uid, {}) for uid in NORMAL[:3]]
    users += [("\ud800bad", {}), ("bad\udfff", {})]
    users += [(uid, {}) for uid in NORMAL[3:]]
    out = run(users)
    assert out["decided"] == [True] * len(users)  # every decision is still returned
    assert sorted(out["visitors"]) == sorted(NORMAL)  # every normal impression arrived
    assert out["outbox"] == {"unencodable": 2}
    assert out["collector_dropped"].get("unencodable", 0) == 0  # never reached a batch


def test_surrogate_attribute_values_and_keys_are_dropped_too() -> None:
    users = [
        ("user-a", {}),
        ("user-b", {"country": "\ud800"}),
        ("user-c", {"$opt_\udc00": "x"}),
        ("user-d", {"country": "ünï"}),
    ]
    out = run(users)
    assert out["decided"] == [True] * 4
    assert sorted(out["visitors"]) == ["user-a", "user-d"]
    assert out["outbox"] == {"unencodable": 2}


def test_conversions_with_surrogate_user_ids_or_tags_are_dropped_alone() -> None:
    users = [("user-a", {}), ("\ud800", {}), ("tagged-user", {}), ("user-b", {})]
    out = run(users, track="purchase", tags={"note": ["ok", {"deep": "\udfff"}]})
    assert out["decided"] == [True] * 4
    # impressions: all but the surrogate user; conversions: all but it and the bad tags
    impressions, conversions = ["user-a", "tagged-user", "user-b"], ["user-a", "user-b"]
    assert sorted(out["visitors"]) == sorted([*impressions, *conversions])
    assert out["outbox"] == {"unencodable": 3}
    assert out["collector_dropped"].get("unencodable", 0) == 0
