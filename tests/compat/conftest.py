"""Shared harness for the differential tests: asyncexp and optimizely-sdk side by side.

``make_pair(datafile)`` builds an asyncexp ``Client`` and an ``optimizely.Optimizely``
on the same datafile text. The reference is driven through a capturing event
dispatcher behind a ``ForwardingEventProcessor`` (synchronous, one LogEvent per
user event); asyncexp through a ``CapturingCollector`` with a frozen clock and id
factory. ``same`` compares values strictly: types must match (``1`` is not
``1.0``, ``True`` is not ``1``), floats compare by ``repr`` (so ``-0.0`` is not
``0.0``) and NaN equals NaN.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest
from optimizely import optimizely as optimizely_module
from optimizely.event.event_processor import ForwardingEventProcessor
from optimizely.optimizely_user_context import OptimizelyUserContext

from asyncexp.client import Client
from asyncexp.core.flags.decision_types import DecisionContext, ForcedDecision
from asyncexp.testing import CapturingCollector
from tests.compat.datafile_gen import UserSpec

__all__ = [
    "CapturingDispatcher",
    "DictProfileService",
    "Pair",
    "decision_fields",
    "dedup_reasons",
    "describe_user",
    "same",
    "strip_volatile",
]

FROZEN_SECONDS = 1_700_000_000.0


class CapturingDispatcher:
    """The reference's event dispatcher: keeps each LogEvent instead of sending it."""

    def __init__(self) -> None:
        self.events: list[Any] = []

    def dispatch_event(self, log_event: Any) -> None:
        self.events.append(log_event)


class DictProfileService:
    """A user-profile service over a dict; records every lookup and save."""

    def __init__(self, profiles: dict[str, dict[str, Any]]) -> None:
        self._profiles = profiles
        self.lookups: list[str] = []
        self.saves: list[dict[str, Any]] = []

    def lookup(self, user_id: str) -> dict[str, Any] | None:
        self.lookups.append(user_id)
        found = self._profiles.get(user_id)
        return json.loads(json.dumps(found)) if found is not None else None

    def save(self, profile: dict[str, Any]) -> None:
        self.saves.append(json.loads(json.dumps(profile)))


def same(a: Any, b: Any, *, ordered: bool = True) -> bool:
    """Strict structural equality (see the module docstring); ``ordered`` checks dict key order."""
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        return (math.isnan(a) and math.isnan(b)) or repr(a) == repr(b)
    if isinstance(a, dict):
        keys_match = list(a) == list(b) if ordered else a.keys() == b.keys()
        return keys_match and all(same(a[k], b[k], ordered=ordered) for k in a)
    if isinstance(a, list | tuple):
        return len(a) == len(b) and all(
            same(x, y, ordered=ordered) for x, y in zip(a, b, strict=True)
        )
    return bool(a == b)


def dedup_reasons(reasons: Sequence[str]) -> list[str]:
    """``reasons`` in order with repeats removed: the reference repeats earlier reasons
    as it goes (asyncexp lists each once, README "Compatibility choices")."""
    return list(dict.fromkeys(reasons))


def decision_fields(decision: Any) -> dict[str, Any]:
    """What must agree on every decision; reasons as de-duplicated sequences."""
    return {
        "flag_key": decision.flag_key,
        "variation_key": decision.variation_key,
        "enabled": decision.enabled,
        "rule_key": decision.rule_key,
        "variables": decision.variables,
        "reasons": dedup_reasons(decision.reasons),
    }


def strip_volatile(payload: dict[str, Any]) -> dict[str, Any]:
    """A copy of an event batch without the per-event ``uuid`` and ``timestamp``."""
    out: dict[str, Any] = json.loads(json.dumps(payload))
    for visitor in out["visitors"]:
        for snapshot in visitor["snapshots"]:
            for event in snapshot["events"]:
                assert isinstance(event.pop("uuid"), str)
                assert isinstance(event.pop("timestamp"), int)
    return out


def describe_user(spec: UserSpec) -> str:
    return (
        f"user_id={spec.user_id!r} attributes={spec.attributes!r} "
        f"segments={spec.segments!r} forced={spec.forced!r}"
    )


@dataclass
class Pair:
    """One datafile loaded into both SDKs."""

    datafile: dict[str, Any]
    reference: Any
    dispatcher: CapturingDispatcher
    client: Client
    collector: CapturingCollector
    mismatches: list[str] = field(default_factory=list)

    @property
    def flag_keys(self) -> list[str]:
        return [f["key"] for f in self.datafile["featureFlags"]]

    def users(self, spec: UserSpec) -> tuple[Any, Any]:
        """(reference user context, asyncexp user context) set up from ``spec``."""
        ref = self.reference.create_user_context(spec.user_id, dict(spec.attributes))
        ours = self.client.create_user_context(spec.user_id, dict(spec.attributes))
        if spec.segments is not None:
            ref.set_qualified_segments(list(spec.segments))
            ours.set_qualified_segments(list(spec.segments))
        for forced in spec.forced:
            ref.set_forced_decision(
                OptimizelyUserContext.OptimizelyDecisionContext(forced.flag_key, forced.rule_key),
                OptimizelyUserContext.OptimizelyForcedDecision(forced.variation_key),
            )
            ours.set_forced_decision(
                DecisionContext(forced.flag_key, forced.rule_key),
                ForcedDecision(forced.variation_key),
            )
        return ref, ours

    def expect_same(self, what: str, ref: Any, ours: Any) -> bool:
        if same(ref, ours):
            return True
        self.mismatches.append(f"{what}\n    reference: {ref!r}\n    asyncexp:  {ours!r}")
        return False

    def compare_decisions(
        self, what: str, ref: dict[str, Any], ours: dict[str, Any], *, ordered: bool = True
    ) -> None:
        """Compare two ``{flag_key: decision}`` results: same keys (in the same order
        unless ``ordered`` is false), same decisions."""
        if ordered:
            self.expect_same(f"{what}: keys", list(ref), list(ours))
        else:
            self.expect_same(f"{what}: keys", sorted(ref), sorted(ours))
        known = set(self.flag_keys)
        for key in ref:
            if key in ours:
                expected = decision_fields(ref[key])
                if key not in known and not expected["reasons"]:
                    # Compatibility choice: decide_for_keys gives an unknown key the reason
                    # decide gives it; the reference leaves it empty.
                    expected["reasons"] = [f'No flag was found for key "{key}".']
                self.expect_same(f"{what}: {key}", expected, decision_fields(ours[key]))

    def take_payloads(self) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """The events captured since the last call: (reference, asyncexp), volatile fields gone."""
        ref = [strip_volatile(e.params) for e in self.dispatcher.events]
        ours = [strip_volatile(p) for p in self.collector.payloads()]
        self.discard_events()
        return ref, ours

    def discard_events(self) -> None:
        self.dispatcher.events.clear()
        self.collector.items.clear()

    def take_urls(self) -> tuple[list[str], list[str]]:
        """The endpoints the captured events go to (call before ``take_payloads``)."""
        return (
            [e.url for e in self.dispatcher.events],
            [e.context.endpoint for e in self.collector.events],
        )

    def assert_no_mismatches(self, limit: int = 8) -> None:
        if self.mismatches:
            shown = "\n".join(self.mismatches[:limit])
            pytest.fail(f"{len(self.mismatches)} mismatches with optimizely-sdk, first:\n{shown}")


MakePair = Callable[..., Pair]


@pytest.fixture
def make_pair() -> Iterator[MakePair]:
    """Factory: ``make_pair(datafile, user_profile_service=..., default_decide_options=...)``."""
    references: list[Any] = []
    # The reference logs through a no-op logger; asyncexp's datafile warnings are noise here.
    previous = logging.root.manager.disable
    logging.disable(logging.WARNING)

    def build(
        datafile: dict[str, Any],
        *,
        reference_ups: Any = None,
        asyncexp_ups: Any = None,
        default_decide_options: Sequence[str] | None = None,
    ) -> Pair:
        text = json.dumps(datafile)
        dispatcher = CapturingDispatcher()
        reference = optimizely_module.Optimizely(
            datafile=text,
            event_dispatcher=dispatcher,
            event_processor=ForwardingEventProcessor(dispatcher),
            user_profile_service=reference_ups,
            default_decide_options=list(default_decide_options or []),
        )
        references.append(reference)
        # A datafile the reference rejects would make every comparison vacuous.
        assert reference.config_manager.get_config() is not None, "reference rejected the datafile"
        collector = CapturingCollector()
        client = Client(
            datafile=text,
            collector=collector,
            user_profile_service=asyncexp_ups,
            default_decide_options=default_decide_options,
            clock=lambda: FROZEN_SECONDS,
            id_factory=lambda: "uuid",
        )
        return Pair(datafile, reference, dispatcher, client, collector)

    yield build
    for reference in references:
        reference.close()
    logging.disable(previous)
