"""Holdout impressions carry the holdout's own id as ``campaign_id``, as optimizely-sdk 5.7.0.

A holdout has no layer; a datafile may still give it a ``layerId``. The
reference ignores it for holdouts (and so do its C# and JS siblings), so
``campaign_id`` and the snapshot event's ``entity_id`` are the holdout id;
for experiment and delivery rules the ``layerId`` stays the campaign.
Compared on generated datafiles whose holdouts (global and local) all carry
a ``layerId``, through ``decide`` (the pre-decide calls never send a holdout's
impression, in the reference as in the facade).
"""

from __future__ import annotations

import random
from typing import Any

from asyncexp.core.flags.decision_types import DecideOption
from tests.compat.conftest import MakePair, describe_user, same
from tests.compat.datafile_gen import generate_datafile, generate_users


def _holds_users(holdout: dict[str, Any]) -> bool:
    traffic = holdout["trafficAllocation"]
    return holdout["status"] == "Running" and any(
        t["entityId"] and t["endOfRange"] for t in traffic
    )


# Generated datafiles with a running holdout that has traffic (not every seed has one).
SEEDS = [
    s
    for s in range(200, 280)
    if any(_holds_users(h) for h in generate_datafile(s).get("holdouts", []))
][:8]


def _with_holdout_layers(seed: int) -> dict[str, Any]:
    datafile = generate_datafile(seed, sendFlagDecisions=True)
    for i, holdout in enumerate(datafile.get("holdouts", [])):
        holdout["layerId"] = f"9{seed}{i:03d}"
    return datafile


def _decisions(payloads: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        decision
        for payload in payloads
        for visitor in payload["visitors"]
        for decision in visitor["snapshots"][0].get("decisions", [])
    ]


def test_holdout_impressions_use_the_holdout_id(make_pair: MakePair) -> None:
    assert len(SEEDS) == 8
    holdout_impressions = 0
    for seed in SEEDS:
        datafile = _with_holdout_layers(seed)
        layers = {h["layerId"] for h in datafile["holdouts"]}
        pair = make_pair(datafile)
        rng = random.Random(seed)
        for spec in generate_users(datafile, seed, 150):
            ref_user, our_user = pair.users(spec)
            options = rng.choice([[], [DecideOption.INCLUDE_REASONS]])
            ref_user.decide_all(list(options))
            our_user.decide_all(list(options))
            ref, ours = pair.take_payloads()
            if len(ref) != len(ours) or not same(ref, ours, ordered=False):
                pair.mismatches.append(f"seed {seed} {describe_user(spec)}\n  {ref!r}\n  {ours!r}")
            for decision in _decisions(ours):
                if decision["metadata"]["rule_type"] == "holdout":
                    holdout_impressions += 1
                    assert decision["campaign_id"] == decision["experiment_id"]
                    assert decision["campaign_id"] not in layers
        pair.assert_no_mismatches()
    assert holdout_impressions > 50
