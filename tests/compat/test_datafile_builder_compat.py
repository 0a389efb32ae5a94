"""Differential: a ``DatafileBuilder`` datafile decides the same in optimizely-sdk."""

from __future__ import annotations

from asyncexp.testing import DatafileBuilder
from tests.compat.conftest import MakePair, decision_fields
from tests.compat.datafile_gen import UserSpec


def rich_datafile() -> DatafileBuilder:
    builder = DatafileBuilder(revision="9")
    us = builder.audience(
        "US",
        ["and", {"type": "custom_attribute", "name": "country", "match": "exact", "value": "US"}],
    )
    adult = builder.audience(
        "adult", ["and", {"type": "custom_attribute", "name": "age", "match": "ge", "value": 18}]
    )
    checkout = builder.flag("checkout")
    checkout.variable("label", "plain").variable("count", 1).variable("price", 9.5)
    checkout.variable("on", False).variable("blob", {"a": 1})
    checkout.variation("off", enabled=False)
    checkout.variation("control", variables={"label": "control", "count": 2})
    checkout.variation(
        "treatment", variables={"label": "new", "price": 1.25, "on": True, "blob": [1]}
    )
    checkout.experiment(
        "checkout_test", split={"control": 1, "treatment": 1}, percent=60, audiences=[adult]
    )
    checkout.rollout_rule(
        "us_half", "treatment", percent=50, conditions=["and", us, ["not", adult]]
    )
    checkout.everyone_else("off")
    banner = builder.flag("banner").variable("text", "hi").variation("on", variables={"text": "yo"})
    banner.variation("off", enabled=False)
    banner.experiment("banner_test", split={"on": 3, "off": 1}, audiences=[us, adult])
    banner.serve("on")
    builder.flag("empty").variable("n", 3).variation("on")
    builder.holdout("small", percent=5)
    builder.holdout("local", percent=30, rules=["us_half"])
    return builder


def test_builder_datafile_decides_like_the_reference(make_pair: MakePair) -> None:
    pair = make_pair(rich_datafile().build())
    countries = ["US", "FR", None]
    compared = 0
    seen: set[object] = set()
    for i in range(300):
        attributes: dict[str, object] = {"age": (i * 7) % 40}
        country = countries[i % 3]
        if country is not None:
            attributes["country"] = country
        ref, ours = pair.users(UserSpec(f"user{i}", attributes))
        for key in pair.flag_keys:
            decision = ours.decide(key)
            seen.add(decision.rule_key)
            pair.expect_same(
                f"decide({key!r}) user{i} {attributes}",
                decision_fields(ref.decide(key)),
                decision_fields(decision),
            )
            compared += 1
    pair.assert_no_mismatches()
    assert compared == 900
    # every kind of rule served someone: the comparison is not vacuous
    expected = {"checkout_test", "us_half", "everyone_else_checkout", "banner_test"}
    assert expected | {"small", "local", "everyone_else_banner", None} >= seen >= expected
