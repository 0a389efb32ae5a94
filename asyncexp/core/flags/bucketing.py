"""Bucketing: which traffic range a user falls in.

Rules (identical to the Optimizely SDKs, so the same user gets the same bucket):

* hash = MurmurHash3 x86 32-bit, seed 1, over the UTF-8 of
  ``bucketing_id + parent_id`` with no separator, taken unsigned;
  ``parent_id`` is the rule id (experiments and delivery rules), the group id
  (group step) or the holdout id.
* bucket = floor(hash / 2**32 * 10000), in [0, 9999]; computed here in integers
  as ``(hash * 10000) >> 32``, which is the same value for every 32-bit hash.
* A traffic allocation is walked in order; the first range whose ``endOfRange``
  is above the bucket wins. ``entityId == ""`` means an empty range.
* A rule in a group with policy ``random`` first hashes against the group's
  allocation; only when that picks this rule does variation bucketing follow.
* ``$opt_bucketing_id`` replaces the user id for hashing when it is a string.

Reasons (when asked for) are the reference bucketer's: a group miss, a bucket in
no range or in an empty range (also a holdout's) each end with "Bucketed into an
empty traffic range. Returning nil."; a range naming an entity id that is not a
variation of the rule ends the bucketing silently.

The key is encoded here and mmh3 gets bytes: given a ``str`` with a lone
surrogate (``"\ud800"``, e.g. from ``json.loads`` or a 0xFF header byte)
mmh3 5.x dereferences a failed UTF-8 conversion and the process dies with
SIGSEGV. ``surrogatepass`` gives the same bytes as UTF-8 for every valid
string (so buckets stay the reference's) and a deterministic 3-byte form for
each lone surrogate, where the reference raises ``UnicodeEncodeError`` out of
``decide``; asyncexp buckets such a user like any other.
"""

from __future__ import annotations

from collections.abc import Mapping

import mmh3

from asyncexp.core.flags.entities import Group, Rule, Variation

__all__ = [
    "BUCKETING_ID_ATTRIBUTE",
    "MAX_TRAFFIC_VALUE",
    "bucket_value",
    "bucket_variation",
    "find_entity",
    "hash_key",
    "in_cmab_traffic",
    "in_group_slot",
    "variation_in_range",
]

MAX_TRAFFIC_VALUE = 10000
BUCKETING_ID_ATTRIBUTE = "$opt_bucketing_id"
EMPTY_RANGE = "Bucketed into an empty traffic range. Returning nil."

_hash = mmh3.hash


def hash_key(key: str) -> int:
    """The unsigned 32-bit MurmurHash3 (seed 1) of ``key`` (UTF-8, lone surrogates passed)."""
    return _hash(key.encode("utf-8", "surrogatepass"), 1, signed=False)


def bucket_value(key: str) -> int:
    return (_hash(key.encode("utf-8", "surrogatepass"), 1, signed=False) * MAX_TRAFFIC_VALUE) >> 32


def find_entity(traffic: tuple[tuple[int, str], ...], bucket: int) -> str | None:
    for end, entity in traffic:
        if bucket < end:
            return entity
    return None


def bucket_variation(
    rule: Rule,
    bucketing_id: str,
    user_id: str,
    groups: Mapping[str, Group],
    reasons: list[str] | None,
) -> Variation | None:
    """The variation ``rule`` assigns, after its group step if it has one."""
    if (
        rule.group_policy == "random"
        and rule.group_id is not None
        and not in_group_slot(rule, bucketing_id, user_id, groups, reasons)
    ):
        if reasons is not None:
            reasons.append(EMPTY_RANGE)
        return None
    if rule.cmab is not None:  # a delivery rule with ``cmab`` buckets into "$": no variation
        return None
    return variation_in_range(rule, bucket_value(bucketing_id + rule.id), reasons)


def in_group_slot(
    rule: Rule,
    bucketing_id: str,
    user_id: str,
    groups: Mapping[str, Group],
    reasons: list[str] | None,
) -> bool:
    """Whether the group step of a rule in a ``random`` group picks this rule."""
    group = groups.get(rule.group_id) if rule.group_id is not None else None
    if group is None:
        return False
    picked = find_entity(group.traffic, bucket_value(bucketing_id + group.id))
    if not picked:
        if reasons is not None:
            reasons.append(f'User "{user_id}" is in no experiment.')
        return False
    if picked != rule.id:
        if reasons is not None:
            reasons.append(
                f'User "{user_id}" is not in experiment "{rule.key}" of group {group.id}.'
            )
        return False
    if reasons is not None:
        reasons.append(f'User "{user_id}" is in experiment {rule.key} of group {group.id}.')
    return True


def in_cmab_traffic(
    rule: Rule,
    bucketing_id: str,
    user_id: str,
    groups: Mapping[str, Group],
    reasons: list[str] | None,
) -> bool:
    """Whether a CMAB rule's traffic takes the user: the group step, then one range
    ``[0, cmab.trafficAllocation)`` keyed by ``bucketing_id + rule id`` (no empty-range
    reason, as the reference)."""
    if (
        rule.group_policy == "random"
        and rule.group_id is not None
        and not in_group_slot(rule, bucketing_id, user_id, groups, reasons)
    ):
        return False
    cmab = rule.cmab or {}
    end = cmab.get("trafficAllocation")
    if isinstance(end, bool) or not isinstance(end, int | float):
        return False
    return bucket_value(bucketing_id + rule.id) < end


def variation_in_range(rule: Rule, bucket: int, reasons: list[str] | None) -> Variation | None:
    """The variation of ``rule``'s range holding ``bucket``. The empty-range reason is
    given when no range or an empty (``""``) one holds it, not for an entity id that is
    not a variation of the rule (the reference's bucketer says nothing then)."""
    entity = find_entity(rule.traffic, bucket)
    if not entity:
        if reasons is not None:
            reasons.append(EMPTY_RANGE)
        return None
    return rule.variations_by_id.get(entity)
