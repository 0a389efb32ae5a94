"""``asyncexp.core.flags.experiments``: the pure experiment decision behind ``activate``."""

from __future__ import annotations

import copy
from typing import Any

from asyncexp.core.flags.datafile import parse_datafile
from asyncexp.core.flags.decision_types import ProfileState, UserView
from asyncexp.core.flags.experiments import (
    experiment_decision,
    experiment_impression,
    flag_keys_of_experiment,
    rule_impression,
)


def _datafile(**experiment: Any) -> dict[str, Any]:
    variations = [
        {"id": "101", "key": "control", "featureEnabled": True, "variables": []},
        {"id": "102", "key": "treatment", "featureEnabled": True, "variables": []},
    ]
    rule = {
        "id": "10",
        "key": "exp",
        "status": "Running",
        "layerId": "19",
        "audienceIds": [],
        "variations": variations,
        "trafficAllocation": [{"entityId": "102", "endOfRange": 10000}],
        "forcedVariations": {"wl_user": "control"},
        **experiment,
    }
    return {
        "version": "4",
        "accountId": "1",
        "projectId": "2",
        "revision": "3",
        "attributes": [{"id": "7", "key": "country"}],
        "audiences": [],
        "experiments": [rule],
        "groups": [],
        "events": [],
        "featureFlags": [],
        "rollouts": [],
        "holdouts": [
            {
                "id": "61",
                "key": "h",
                "status": "Running",
                "layerId": "69",
                "audienceIds": [],
                "variations": [{"id": "62", "key": "held", "featureEnabled": False}],
                "trafficAllocation": [{"entityId": "62", "endOfRange": 10000}],
            }
        ],
    }


def _user(user_id: str = "u1", **attributes: object) -> UserView:
    return UserView(user_id, attributes, None, {})


def test_traffic_whitelist_and_forced_variation_in_the_reference_order() -> None:
    config = parse_datafile(_datafile())
    rule = config.experiments_by_key["exp"]
    assert experiment_decision(config, rule, _user(), None, None).key == "treatment"
    # The whitelist wins over traffic, and the forced variation wins over the whitelist.
    assert experiment_decision(config, rule, _user("wl_user"), None, None).key == "control"
    assert experiment_decision(config, rule, _user("wl_user"), "102", None).key == "treatment"
    # A forced id that is not a variation of the experiment is ignored.
    assert experiment_decision(config, rule, _user("wl_user"), "999", None).key == "control"


def test_a_paused_experiment_decides_nothing_even_when_forced() -> None:
    config = parse_datafile(_datafile(status="Paused"))
    rule = config.experiments_by_key["exp"]
    reasons: list[str] = []
    assert experiment_decision(config, rule, _user(), "101", None, reasons) is None
    assert reasons == ['Experiment "exp" is not running.']


def test_the_profile_is_read_and_written() -> None:
    config = parse_datafile(_datafile())
    rule = config.experiments_by_key["exp"]
    sticky = ProfileState("u1", {"10": {"variation_id": "101"}})
    assert experiment_decision(config, rule, _user(), None, sticky).key == "control"
    assert not sticky.changed
    fresh = ProfileState("u1", {})
    assert experiment_decision(config, rule, _user(), None, fresh).key == "treatment"
    assert fresh.changed
    assert fresh.bucket_map == {"10": {"variation_id": "102"}}


def test_a_cmab_experiment_is_skipped() -> None:
    doc = _datafile(cmab={"attributeIds": [], "trafficAllocation": 10000})
    config = parse_datafile(doc)
    rule = config.experiments_by_key["exp"]
    assert experiment_decision(config, rule, _user(), None, None) is None


def test_an_experiment_of_no_flag_and_its_impression() -> None:
    config = parse_datafile(_datafile())
    rule = config.experiments_by_key["exp"]
    assert flag_keys_of_experiment(config, rule) == ()
    variation = rule.variations_by_key["treatment"]
    event = experiment_impression(
        config, rule, variation, user_id="u1", attributes={"country": "DE"}, uuid="x", timestamp=5
    )
    snapshot = event.visitor["snapshots"][0]
    assert snapshot["decisions"] == [
        {
            "campaign_id": "19",
            "experiment_id": "10",
            "variation_id": "102",
            "metadata": {
                "flag_key": "",
                "rule_key": "exp",
                "rule_type": "experiment",
                "variation_key": "treatment",
                "enabled": True,
            },
        }
    ]
    assert snapshot["events"][0]["entity_id"] == "19"
    assert event.visitor["attributes"][0]["entity_id"] == "7"


def test_a_holdout_impression_uses_the_holdout_id_not_its_layer() -> None:
    config = parse_datafile(copy.deepcopy(_datafile()))
    holdout = config.global_holdouts[0]
    event = rule_impression(
        config,
        user_id="u1",
        attributes={},
        flag_key="f",
        rule=holdout,
        variation=holdout.variations[0],
        rule_type="holdout",
        enabled=False,
        uuid="x",
        timestamp=5,
    )
    decision = event.visitor["snapshots"][0]["decisions"][0]
    assert (decision["campaign_id"], decision["experiment_id"]) == ("61", "61")
