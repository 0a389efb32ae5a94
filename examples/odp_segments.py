"""Real-time segments (ODP): fetch a user's segments, decide on them, send an ODP event.

Runs fully offline: ``python examples/odp_segments.py``. A local ODP server on
127.0.0.1 (``asyncexp.testing.odp_server.OdpServer``) stands in for the GraphQL and
events endpoints; the datafile's ``odp`` integration points at it. The flag
``premium_banner`` has a delivery rule whose audience is the ODP segment
``vip`` (a ``qualified`` condition), so a user sees the banner only once their
segments have been fetched.

It shows both ways to fetch: ``await user.fetch_qualified_segments()``, and a
callback (here a coroutine function) with the task dropped; then a second
fetch answered from the cache, an ODP event, and a graceful close that drains
the event queue. ``main()`` returns a summary that ``tests/examples`` asserts on.
"""

from __future__ import annotations

import asyncio
from typing import Any

from asyncexp import Client, Decision
from asyncexp.testing import OdpServer

PUBLIC_KEY = "W4WzcEs-ABgXorzY7h1LCQ"  # an ODP public key is not a secret; this one is made up
FLAG = "premium_banner"


def datafile(odp_host: str) -> dict[str, Any]:
    """A minimal v4 datafile: one flag, a segment-targeted rule and "Everyone Else"."""

    def rule(rid: str, key: str, variation: dict[str, Any], audiences: list[str]) -> dict[str, Any]:
        return {
            "id": rid,
            "key": key,
            "status": "Running",
            "layerId": "ro_banner",
            "variations": [variation],
            "trafficAllocation": [{"entityId": variation["id"], "endOfRange": 10000}],
            "audienceIds": audiences,
            "forcedVariations": {},
        }

    on = {"id": "v_on", "key": "on", "featureEnabled": True, "variables": []}
    off = {"id": "v_off", "key": "off", "featureEnabled": False, "variables": []}
    return {
        "version": "4",
        "accountId": "acct1",
        "projectId": "proj1",
        "revision": "1",
        "sdkKey": "example-odp",
        "environmentKey": "production",
        "botFiltering": False,
        "anonymizeIP": True,
        "sendFlagDecisions": True,
        "attributes": [],
        "audiences": [],
        # A "qualified" condition reads the user's ODP segments; every segment named
        # in such a condition is what the client asks ODP about, and nothing else.
        "typedAudiences": [
            {
                "id": "aud_vip",
                "name": "VIP customers",
                "conditions": [
                    "or",
                    {
                        "type": "third_party_dimension",
                        "name": "odp.audiences",
                        "match": "qualified",
                        "value": "vip",
                    },
                ],
            },
            {
                "id": "aud_churn",
                "name": "Churn risk",
                "conditions": [
                    "or",
                    {
                        "type": "third_party_dimension",
                        "name": "odp.audiences",
                        "match": "qualified",
                        "value": "churn_risk",
                    },
                ],
            },
        ],
        "events": [],
        "experiments": [],
        "groups": [],
        "featureFlags": [
            {
                "id": "f_banner",
                "key": FLAG,
                "rolloutId": "ro_banner",
                "experimentIds": [],
                "variables": [],
            }
        ],
        "rollouts": [
            {
                "id": "ro_banner",
                "experiments": [
                    rule("r_vip", "vip_customers", on, ["aud_vip"]),
                    rule("r_churn", "churn_risk", on, ["aud_churn"]),
                    rule("r_ee", "everyone_else", off, []),
                ],
            }
        ],
        "integrations": [{"key": "odp", "host": odp_host, "publicKey": PUBLIC_KEY}],
    }


def _brief(decision: Decision) -> dict[str, Any]:
    return {
        "variation": decision.variation_key,
        "enabled": decision.enabled,
        "rule": decision.rule_key,
    }


async def main() -> dict[str, Any]:
    """Run the walk-through against a local ODP server and return what happened."""
    async with OdpServer(api_key=PUBLIC_KEY) as odp:
        odp.qualified = {"alice": {"vip"}, "bob": set()}
        print(f"local ODP server on {odp.url}")
        async with Client(datafile=datafile(odp.url)) as client:
            alice = client.create_user_context("alice")
            bob = client.create_user_context("bob")
            before = {"alice": _brief(alice.decide(FLAG)), "bob": _brief(bob.decide(FLAG))}

            # 1. Await the task: True once the segments are fetched and stored.
            alice_ok = await alice.fetch_qualified_segments()

            # 2. Fire and forget with a callback: the task may be dropped (the client
            #    awaits it at close). The callback resolves a future so we can wait here.
            bob_done: asyncio.Future[bool] = asyncio.get_running_loop().create_future()

            async def on_bob_fetched(success: bool) -> None:
                bob_done.set_result(success)

            bob.fetch_qualified_segments(callback=on_bob_fetched)
            bob_ok = await bob_done

            after = {"alice": _brief(alice.decide(FLAG)), "bob": _brief(bob.decide(FLAG))}

            # 3. Fetching again within the cache TTL sends no request.
            alice_again = await alice.fetch_qualified_segments()

            # 4. An ODP event: queued by a plain call, batched, sent in the background.
            client.send_odp_event(
                "purchase",
                identifiers={"fs_user_id": "alice", "email": "alice@example.com"},
                data={"sku": "banner-upsell", "amount": 42.5},
            )
            segment_stats = client.odp.stats.segments.as_dict()
        # Leaving the block waited for fetch tasks and drained the ODP event queue.
        event_stats = client.odp.stats.events.as_dict()
        summary: dict[str, Any] = {
            "fetched": {"alice": alice_ok, "bob": bob_ok, "alice_again": alice_again},
            "segments": {
                "alice": alice.get_qualified_segments(),
                "bob": bob.get_qualified_segments(),
            },
            "before": before,
            "after": after,
            "graphql_requests": [
                {"user_id": r.user_id, "audiences": r.audiences, "status": r.status}
                for r in odp.graphql_requests
            ],
            "events_received": list(odp.events),
            "event_requests": [r.status for r in odp.event_requests],
            "segment_stats": segment_stats,
            "event_stats": event_stats,
        }

    for name in ("alice", "bob"):
        print(
            f"{name:<6} fetched={summary['fetched'][name]!s:<5} "
            f"segments={summary['segments'][name]!s:<10} "
            f"{FLAG}: {before[name]['variation']} ({before[name]['rule']}) -> "
            f"{after[name]['variation']} ({after[name]['rule']})"
        )
    asked = summary["graphql_requests"][0]["audiences"] if summary["graphql_requests"] else []
    print(
        f"GraphQL requests: {len(odp.graphql_requests)} (segments asked: {asked}); "
        f"cache hits: {segment_stats['cache_hits']}"
    )
    print(
        f"ODP events received: {[e['action'] for e in odp.events]}; "
        f"delivered {event_stats['delivered']}, dropped {sum(event_stats['dropped'].values())}"
    )
    return summary


if __name__ == "__main__":
    asyncio.run(main())
