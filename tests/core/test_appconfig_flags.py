"""Multi-variant flags of the ``AWS.AppConfig.FeatureFlags`` document."""

from __future__ import annotations

import copy
from collections import Counter
from typing import Any

import orjson
import pytest

from asyncexp.core.appconfig import FlagEvaluation, parse_feature_flags
from asyncexp.core.appconfig.feature_flags import MAX_DOCUMENT_BYTES
from asyncexp.errors import ConfigError, RuleSyntaxError
from tests.appconfig_samples import FLAGS_DOCUMENT


def _doc() -> dict[str, Any]:
    return copy.deepcopy(FLAGS_DOCUMENT)


def test_plain_flags() -> None:
    flags = parse_feature_flags(FLAGS_DOCUMENT)
    checkout = flags.evaluate("checkout", {})
    assert checkout == FlagEvaluation("checkout", True, {"color": "green"})
    assert checkout is not None
    assert checkout.as_dict() == {"enabled": True, "color": "green"}
    banner = flags.evaluate("banner", {"anything": 1})
    assert banner is not None
    assert banner.as_dict() == {"enabled": False}
    assert flags.evaluate("unknown", {}) is None
    assert flags.flags["checkout"].name == "Checkout button"


def test_first_matching_variant_wins() -> None:
    flags = parse_feature_flags(FLAGS_DOCUMENT)
    beta = flags.evaluate("ui_refresh", {"accountId": "acct-123", "userId": "u1"})
    assert beta is not None
    assert beta.as_dict() == {"enabled": True, "theme": "dark", "_variant": "BetaUsers"}
    default = flags.evaluate("ui_refresh", {"accountId": "acct-999"})  # no userId: splits unknown
    assert default is not None
    assert default.as_dict() == {"enabled": False, "_variant": "Default"}


def test_split_variants_share_first_match_wins() -> None:
    """A:(split 20) B:(split 25) C:default → 20% / 5% / 75%."""
    flags = parse_feature_flags(FLAGS_DOCUMENT)
    n = 100_000
    counts: Counter[str | None] = Counter()
    for i in range(n):
        served = flags.evaluate("ui_refresh", {"userId": f"user-{i}", "accountId": "x"})
        assert served is not None
        counts[served.variant] += 1
    assert abs(counts["A"] / n - 0.20) < 0.01
    assert abs(counts["B"] / n - 0.05) < 0.01
    assert abs(counts["Default"] / n - 0.75) < 0.01
    assert counts["BetaUsers"] == 0


def test_equal_splits_leave_the_second_variant_empty() -> None:
    doc = _doc()
    doc["values"]["ui_refresh"]["_variants"][2]["rule"] = "(split by::$userId pct::20)"
    flags = parse_feature_flags(doc)
    served = Counter(
        e.variant
        for i in range(20_000)
        if (e := flags.evaluate("ui_refresh", {"userId": f"u{i}"})) is not None
    )
    assert served["B"] == 0
    assert served["A"] > 3000


def test_evaluate_all_and_text_input() -> None:
    flags = parse_feature_flags(orjson.dumps(FLAGS_DOCUMENT))
    also = parse_feature_flags(orjson.dumps(FLAGS_DOCUMENT).decode())
    assert flags == also
    everything = flags.evaluate_all({"accountId": "a123"})
    assert sorted(everything) == ["banner", "checkout", "ui_refresh"]
    assert everything["ui_refresh"].variant == "BetaUsers"


def test_list_attributes_come_back_as_lists() -> None:
    doc = _doc()
    doc["values"]["checkout"]["sizes"] = [1, 2]
    doc["values"]["checkout"]["tags"] = ["a"]
    served = parse_feature_flags(doc).evaluate("checkout", {})
    assert served is not None
    assert served.attributes["sizes"] == (1, 2)
    assert served.as_dict() == {"enabled": True, "color": "green", "sizes": [1, 2], "tags": ["a"]}


def _set(doc: dict[str, Any], path: list[Any], value: Any) -> dict[str, Any]:
    target: Any = doc
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return doc


V = ["values", "ui_refresh", "_variants"]
INVALID: list[tuple[list[Any], Any, str, str]] = [
    (["version"], "2", "version", 'must be "1"'),
    (["flags"], [], "flags", "must be an object"),
    (["flags", "Bad Key"], {}, "flags", "does not match"),
    (["values", "ghost"], {"enabled": True}, "values.ghost", "not declared"),
    (["values", "checkout", "enabled"], "yes", "values.checkout.enabled", "boolean"),
    (["values", "checkout", "color"], {"nested": 1}, "values.checkout.color", "string, number"),
    (["values", "checkout", "color"], "x" * 1025, "values.checkout.color", "1024"),
    (["values", "checkout", "color"], ["a", 1], "values.checkout.color", "only strings"),
    (["values", "checkout", "color"], float("inf"), "values.checkout.color", "finite"),
    (V, [], "values.ui_refresh._variants", "non-empty list"),
    (V, [{"name": f"v{i}", "enabled": True, "rule": "(exists $a)"} for i in range(33)], "", "32"),
    ([*V, 3, "rule"], "(exists $a)", "values.ui_refresh._variants[3].rule", "must be last"),
    ([*V, 1, "rule"], None, "values.ui_refresh._variants[1].rule", "needs a rule"),
    ([*V, 1, "name"], "", "values.ui_refresh._variants[1].name", "non-empty"),
    ([*V, 2, "name"], "A", "values.ui_refresh._variants[2].name", "used twice"),
    ([*V, 1, "enabled"], None, "values.ui_refresh._variants[1].enabled", "boolean"),
    ([*V, 1, "attributeValues"], [1], "_variants[1].attributeValues", "must be an object"),
]


@pytest.mark.parametrize(("path", "value", "where", "message"), INVALID)
def test_invalid_documents(path: list[Any], value: Any, where: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_feature_flags(_set(_doc(), path, value))
    assert where in info.value.path
    assert message in str(info.value)


def test_variant_rule_errors_have_path_and_position() -> None:
    doc = _set(_doc(), [*V, 1, "rule"], "(split by::$userId pct::20")
    with pytest.raises(RuleSyntaxError) as info:
        parse_feature_flags(doc)
    assert info.value.path == "values.ui_refresh._variants[1].rule"
    assert info.value.position == 26


def test_document_limits() -> None:
    with pytest.raises(ConfigError, match="not JSON"):
        parse_feature_flags(b"{nope")
    with pytest.raises(ConfigError, match="more than"):
        parse_feature_flags(b" " * (MAX_DOCUMENT_BYTES + 1))
    too_many = _doc()
    too_many["values"]["checkout"].update({f"a{i}": 1 for i in range(25)})
    with pytest.raises(ConfigError, match="more than 25"):
        parse_feature_flags(too_many)
