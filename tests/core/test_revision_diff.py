"""changed_flag_keys: which flags a new datafile revision changed."""

from __future__ import annotations

from asyncexp.core.flags.datafile import parse_datafile
from asyncexp.core.flags.revision_diff import changed_flag_keys
from asyncexp.testing import DatafileBuilder


def two_flags(country: str = "US", *, holdout: bool = False) -> DatafileBuilder:
    builder = DatafileBuilder()
    aud = builder.audience(
        "market",
        [
            "and",
            {"type": "custom_attribute", "name": "country", "match": "exact", "value": country},
        ],
    )
    builder.flag("targeted").variation("on").rollout_rule("r", "on", audiences=[aud])
    builder.flag("plain").variation("on").serve("on")
    if holdout:
        builder.holdout("ho", percent=5)
    return builder


def test_first_revision_reports_every_flag() -> None:
    assert changed_flag_keys(None, parse_datafile(two_flags().build())) == ["plain", "targeted"]


def test_an_audience_change_is_a_change_of_the_flags_using_it() -> None:
    old = parse_datafile(two_flags("US").build())
    new = parse_datafile(two_flags("FR").build())
    assert changed_flag_keys(old, new) == ["targeted"]


def test_a_global_holdout_changes_every_flag_and_a_new_revision_alone_none() -> None:
    old = parse_datafile(two_flags().build())
    assert changed_flag_keys(old, parse_datafile(two_flags(holdout=True).build())) == [
        "plain",
        "targeted",
    ]
    same = two_flags()
    same.revision = "2"
    assert changed_flag_keys(old, parse_datafile(same.build())) == []
