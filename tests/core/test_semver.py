"""Semantic-version comparison: the official vectors of behaviour reference §3.4."""

from __future__ import annotations

import pytest

from asyncexp.core.flags.conditions import compile_condition_tree
from asyncexp.core.flags.semver import Version, compare_to, compare_versions, parse_version

# (target, user) pairs from the reference SDK's tests/helpers_tests/test_condition.py.
EQUAL = [
    ("2.0.1", "2.0.1"),
    ("2.9.9-beta", "2.9.9-beta"),
    ("2.1", "2.1.0"),
    ("2", "2.12"),
    ("2.9", "2.9.1"),
    ("2.9.1", "2.9.1+beta"),
]
USER_GREATER = [
    ("2.0.0", "2.0.1"),
    ("2.0", "3.0.1"),
    ("2.1.2-beta", "2.1.2-release"),
    ("2.1.3-beta1", "2.1.3-beta2"),
    ("2.9.9-beta", "2.9.9"),
    ("2.9.9+beta", "2.9.9"),
    ("3.7.0-prerelease+build", "3.7.0-prerelease+rc"),
    ("2.2.3-beta-beta1", "2.2.3-beta-beta2"),
    ("2.2.3-beta+beta1", "2.2.3-beta+beta2"),
    ("2.2.3+beta2-beta1", "2.2.3+beta3-beta2"),
]
USER_LESS = [
    ("2.0.1", "2.0.0"),
    ("3.0", "2.0.1"),
    ("2.3", "2.0.1"),
    ("2.3.5", "2.3.1"),
    ("2.9.8", "2.9"),
    ("2.1.2-release", "2.1.2-beta"),
    ("2.9.9+beta", "2.9.9-beta"),
    ("3.7.0+build3.7.0-prerelease+build", "3.7.0-prerelease"),
    ("2.1.3-beta-beta2", "2.1.3-beta"),
    ("2.1.3-beta1+beta3", "2.1.3-beta1+beta2"),
]
INVALID = [
    "-",
    ".",
    "..",
    "+",
    "+test",
    " ",
    "2 .0. 0",
    "2.",
    ".0.0",
    "1.2.2.2",
    "2.x",
    ",",
    "+build-prerelease",
    "2..0",
    "3.7.2.2",
]


@pytest.mark.parametrize(("target", "user"), EQUAL)
def test_official_equal(target: str, user: str) -> None:
    assert compare_versions(target, user) == 0


@pytest.mark.parametrize(("target", "user"), USER_GREATER)
def test_official_user_greater(target: str, user: str) -> None:
    assert compare_versions(target, user) == 1


@pytest.mark.parametrize(("target", "user"), USER_LESS)
def test_official_user_less(target: str, user: str) -> None:
    assert compare_versions(target, user) == -1


@pytest.mark.parametrize("version", INVALID)
def test_official_invalid(version: str) -> None:
    assert parse_version(version) is None
    # Invalid on either side makes the comparison invalid.
    assert compare_versions(version, "1.2.3") is None
    assert compare_versions("1.2.3", version) is None


@pytest.mark.parametrize(
    ("target", "user", "expected"),
    [
        ("2", "2.9.1", 0),  # extra user parts are ignored
        ("2.0.0", "2.0.0+build", 0),  # user build metadata is ignored ...
        ("2.0.0+build", "2.0.0", 1),  # ... yet a plain user beats a build target
        ("1.0.0-beta.2", "1.0.0-beta.10", -1),  # suffixes compare as whole strings
        ("1.2.3", "1.2.3-", -1),  # an empty suffix is still a pre-release
        ("1.2.3-", "1.2.3", 1),
        ("01.2", "1.2", 0),  # numeric parts compare as integers
        ("1.2.3-10", "1.2.3-9", -1),  # digit suffixes too
        ("1.2.3-10", "1.2.3-x", 1),
        ("1+", "1", 1),
        ("1.2+3", "1.2.3", 0),
        ("1.2", "1.2-", -1),
        ("1.2.3-beta", "1.2.3+alpha", 1),  # a build user beats a pre-release target ...
        ("1.2.3-beta", "1.2.3+zeta", 1),  # ... whichever way its suffix string compares
        ("1.2.3-beta", "1.2.3+beta", 0),
        ("١.٢", "1.2", 0),  # str.isdigit() and int() accept other scripts' digits
        ("1", "1.²", 0),  # a bad digit the walk never reaches does not matter
    ],
)
def test_consequences(target: str, user: str, expected: int) -> None:
    assert compare_versions(target, user) == expected


@pytest.mark.parametrize(
    ("target", "user"),
    [
        ("2.1.2-beta", "2.1.2-1"),  # digits against a suffix: the reference raises
        ("1.2-beta", "1.2.3"),
        ("1.2.3-x", "1.2.3-10"),
        ("1.²", "1.2"),  # "²" passes isdigit() but not int(): the reference raises
        ("1.2", "1.²"),
    ],
)
def test_reference_crashes_are_invalid(target: str, user: str) -> None:
    assert compare_versions(target, user) is None


def test_only_a_plain_space_invalidates() -> None:
    assert compare_versions("1.2-a b", "1.2-a b") is None
    # Other whitespace is only rejected where a part must be digits.
    assert compare_versions("1.2-a\tb", "1.2-a\tb") == 0
    assert compare_versions("1", "1\t") is None


def test_parse_version_shape() -> None:
    assert parse_version("3.7.0-pre+build") == Version(
        ("3", "7", "0", "pre+build"), (3, 7, 0, None), True, False
    )
    assert parse_version("2.2.3+beta2-beta1") == Version(
        ("2", "2", "3", "beta2-beta1"), (2, 2, 3, None), False, True
    )
    assert parse_version("10") == Version(("10",), (10,), False, False)


def test_compare_to_a_parsed_target() -> None:
    for target, user in EQUAL + USER_GREATER + USER_LESS:
        parsed = parse_version(target)
        assert parsed is not None
        assert compare_to(parsed, user) == compare_versions(target, user)
    parsed = parse_version("1.2.3")
    assert parsed is not None
    for invalid in INVALID:
        assert compare_to(parsed, invalid) is None


def _semver_leaf(match: str, target: str, user: object) -> bool | None:
    warnings: list[str] = []
    condition = {"name": "v", "value": target, "type": "custom_attribute", "match": match}
    evaluator = compile_condition_tree(condition, "t", warnings)
    assert warnings == []
    return evaluator({"v": user}, None)


# Expected results per match for a comparison of 0, +1 and -1.
SEMVER_MATCHES = {
    "semver_eq": (True, False, False),
    "semver_gt": (False, True, False),
    "semver_ge": (True, True, False),
    "semver_lt": (False, False, True),
    "semver_le": (True, False, True),
}


@pytest.mark.parametrize("match", sorted(SEMVER_MATCHES))
def test_semver_matches_over_official_vectors(match: str) -> None:
    on_equal, on_greater, on_less = SEMVER_MATCHES[match]
    for target, user in EQUAL:
        assert _semver_leaf(match, target, user) is on_equal, (target, user)
    for target, user in USER_GREATER:
        assert _semver_leaf(match, target, user) is on_greater, (target, user)
    for target, user in USER_LESS:
        assert _semver_leaf(match, target, user) is on_less, (target, user)


@pytest.mark.parametrize("match", sorted(SEMVER_MATCHES))
def test_semver_matches_unknown_cases(match: str) -> None:
    for invalid in INVALID:
        assert _semver_leaf(match, "1.2.3", invalid) is None
    assert _semver_leaf(match, "1.2-beta", "1.2.3") is None  # reference would raise
    for user in [None, 1, 1.0, True, ["1.2.3"]]:
        assert _semver_leaf(match, "1.2.3", user) is None


@pytest.mark.parametrize("target", INVALID)
def test_invalid_semver_target_is_judged_at_compile_time(target: str) -> None:
    warnings: list[str] = []
    condition = {"name": "v", "value": target, "type": "custom_attribute", "match": "semver_ge"}
    evaluator = compile_condition_tree(condition, "t", warnings)
    assert evaluator({"v": "1.2.3"}, None) is None
    assert len(warnings) == 1
    assert "has an unsupported condition value" in warnings[0]
