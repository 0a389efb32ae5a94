"""Differential tests: ``asyncexp.compat.optimizely.Optimizely`` against optimizely-sdk 5.7.0.

The facade and the reference client load the same generated datafiles
(``datafile_gen``) and run the same calls for the same users: every
pre-decide method (``activate``, ``get_variation``, ``is_feature_enabled``,
``get_enabled_features``, every variable getter on every variable,
``get_all_feature_variables``, ``track``, ``set_forced_variation`` /
``get_forced_variation``), and ``decide`` / ``decide_all`` through
``create_user_context``. For each call the return value must agree
strictly (``same``), and so must the events dispatched for it (the whole
batch but ``uuid`` / ``timestamp``), the DECISION notifications, and the
user-profile lookups and saves. Bad input returns what the reference returns.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from optimizely import optimizely as optimizely_module
from optimizely.event.event_processor import ForwardingEventProcessor
from optimizely.helpers import enums

from asyncexp.compat.optimizely import (
    DecisionNotificationTypes,
    LogEvent,
    NotificationTypes,
    Optimizely,
    OptimizelyDecideOption,
    OptimizelyUserContext,
)
from asyncexp.errors import ClientStateError
from asyncexp.testing import CapturingCollector
from tests.compat.conftest import (
    FROZEN_SECONDS,
    CapturingDispatcher,
    DictProfileService,
    decision_fields,
    same,
    strip_volatile,
)
from tests.compat.datafile_gen import UserSpec, generate_datafile, generate_users

SEEDS = range(30)
USERS_PER_DATAFILE = 40
TYPED_GETTERS = ("boolean", "double", "integer", "string", "json")
TAGS: list[dict[str, Any] | None] = [None, {}, {"revenue": 100, "value": "1e3", "k": "v"}]


@dataclass
class FacadePair:
    """The reference client and the facade on one datafile, with what each emitted."""

    reference: Any
    facade: Optimizely
    dispatcher: CapturingDispatcher
    collector: CapturingCollector
    ref_notes: list[tuple[Any, ...]] = field(default_factory=list)
    our_notes: list[tuple[Any, ...]] = field(default_factory=list)
    mismatches: list[str] = field(default_factory=list)
    compared: int = 0
    rule_types: Counter[str] = field(default_factory=Counter)  # of the impressions compared
    note_types: Counter[str] = field(default_factory=Counter)  # of the DECISION notifications

    def call(self, what: str, method: str, *args: Any) -> Any:
        """Call ``method`` on both; compare results, events and DECISION notifications."""
        ref = getattr(self.reference, method)(*args)
        ours = getattr(self.facade, method)(*args)
        self.compared += 1
        self.expect(f"{what}: result", ref, ours)
        self.compare_events(what)
        self.expect(f"{what}: notifications", self.ref_notes, self.our_notes)
        self.note_types.update(note[0] for note in self.ref_notes)
        self.ref_notes.clear()
        self.our_notes.clear()
        return ours

    def compare_events(self, what: str) -> None:
        ref = [strip_volatile(e.params) for e in self.dispatcher.events]
        ours = [strip_volatile(p) for p in self.collector.payloads()]
        ref_urls = [e.url for e in self.dispatcher.events]
        our_urls = [e.context.endpoint for e in self.collector.events]
        self.dispatcher.events.clear()
        self.collector.items.clear()
        self.rule_types.update(
            decision["metadata"]["rule_type"]
            for batch in ref
            for visitor in batch["visitors"]
            for decision in visitor["snapshots"][0].get("decisions", [])
        )
        if len(ref) != len(ours) or not same(ref, ours, ordered=False):
            self.mismatches.append(
                f"{what}: events\n    reference: {ref!r}\n    asyncexp:  {ours!r}"
            )
        self.expect(f"{what}: endpoints", ref_urls, our_urls)

    def expect(self, what: str, ref: Any, ours: Any) -> None:
        if not same(ref, ours):
            self.mismatches.append(f"{what}\n    reference: {ref!r}\n    asyncexp:  {ours!r}")

    def assert_no_mismatches(self) -> None:
        if self.mismatches:
            shown = "\n".join(self.mismatches[:8])
            pytest.fail(f"{len(self.mismatches)} mismatches with optimizely-sdk, first:\n{shown}")


MakeFacadePair = Callable[..., FacadePair]


@pytest.fixture
def make_facade_pair() -> Iterator[MakeFacadePair]:
    references: list[Any] = []
    previous = logging.root.manager.disable
    logging.disable(logging.CRITICAL)

    def build(
        datafile: dict[str, Any],
        profiles: dict[str, Any] | None = None,
        default_decide_options: list[str] | None = None,
    ) -> FacadePair:
        text = json.dumps(datafile)
        dispatcher = CapturingDispatcher()
        ref_ups = DictProfileService(profiles) if profiles is not None else None
        our_ups = DictProfileService(profiles) if profiles is not None else None
        reference = optimizely_module.Optimizely(
            datafile=text,
            event_dispatcher=dispatcher,
            event_processor=ForwardingEventProcessor(dispatcher),
            user_profile_service=ref_ups,
            default_decide_options=list(default_decide_options or []),
        )
        references.append(reference)
        assert reference.config_manager.get_config() is not None
        collector = CapturingCollector()
        facade = Optimizely(
            text,
            collector=collector,
            user_profile_service=our_ups,
            default_decide_options=default_decide_options,
            clock=lambda: FROZEN_SECONDS,
            id_factory=lambda: "uuid",
        )
        pair = FacadePair(reference, facade, dispatcher, collector)
        reference.notification_center.add_notification_listener(
            enums.NotificationTypes.DECISION, lambda *a: pair.ref_notes.append(a)
        )
        facade.notification_center.add_notification_listener(
            NotificationTypes.DECISION, lambda *a: pair.our_notes.append(a)
        )
        pair.ref_ups, pair.our_ups = ref_ups, our_ups  # type: ignore[attr-defined]
        return pair

    yield build
    for reference in references:
        reference.close()
    logging.disable(previous)


def _experiment_keys(datafile: dict[str, Any]) -> list[str]:
    keys = [e["key"] for e in datafile["experiments"]]
    for group in datafile["groups"]:
        keys.extend(e["key"] for e in group["experiments"])
    return keys


def _variable_keys(datafile: dict[str, Any], flag_key: str) -> list[str]:
    flag = next(f for f in datafile["featureFlags"] if f["key"] == flag_key)
    return [v["key"] for v in flag["variables"]]


def _run_user(
    pair: FacadePair,
    datafile: dict[str, Any],
    spec: UserSpec,
    rng: random.Random,
    seed: int,
) -> None:
    uid, attrs = spec.user_id, spec.attributes
    who = f"seed {seed} user {uid!r} {attrs!r}"
    experiments = _experiment_keys(datafile)
    # Forced variations on some experiments (some invalid, some cleared again).
    for key in rng.sample(experiments, min(len(experiments), rng.randint(0, 2))):
        variations = [
            v["key"]
            for e in datafile["experiments"]
            + [x for g in datafile["groups"] for x in g["experiments"]]
            if e["key"] == key
            for v in e["variations"]
        ]
        choice = rng.choice([*variations, "no_such_variation", None])
        pair.call(
            f"{who} set_forced_variation({key!r}, {choice!r})",
            "set_forced_variation",
            key,
            uid,
            choice,
        )
    for key in [*experiments, "no_such_experiment"]:
        pair.call(f"{who} get_forced_variation({key!r})", "get_forced_variation", key, uid)
        pair.call(f"{who} get_variation({key!r})", "get_variation", key, uid, dict(attrs))
        pair.call(f"{who} activate({key!r})", "activate", key, uid, dict(attrs))
    for flag in datafile["featureFlags"]:
        key = flag["key"]
        pair.call(f"{who} is_feature_enabled({key!r})", "is_feature_enabled", key, uid, dict(attrs))
        pair.call(
            f"{who} get_all_feature_variables({key!r})",
            "get_all_feature_variables",
            key,
            uid,
            dict(attrs),
        )
        for var in [*_variable_keys(datafile, key), "no_such_variable"]:
            pair.call(
                f"{who} get_feature_variable({key!r}, {var!r})",
                "get_feature_variable",
                key,
                var,
                uid,
                dict(attrs),
            )
            getter = rng.choice(TYPED_GETTERS)
            pair.call(
                f"{who} get_feature_variable_{getter}({key!r}, {var!r})",
                f"get_feature_variable_{getter}",
                key,
                var,
                uid,
                dict(attrs),
            )
    pair.call(f"{who} get_enabled_features()", "get_enabled_features", uid, dict(attrs))
    event_key = rng.choice(("purchase", "signup", "view", "no_such_event"))
    tags = rng.choice(TAGS)
    pair.call(f"{who} track({event_key!r}, {tags!r})", "track", event_key, uid, dict(attrs), tags)


@pytest.mark.parametrize("seed", SEEDS)
def test_pre_decide_api_matches_reference(make_facade_pair: MakeFacadePair, seed: int) -> None:
    datafile = generate_datafile(seed, sendFlagDecisions=seed % 2 == 0)
    detached = seed % 3 == 0
    if detached:  # experiments that belong to no flag: "ab-test" decisions
        for flag in datafile["featureFlags"][::2]:
            flag["experimentIds"] = []
    pair = make_facade_pair(datafile)
    rng = random.Random(seed)
    for spec in generate_users(datafile, seed, USERS_PER_DATAFILE):
        before = pair.compared
        _run_user(pair, datafile, spec, rng, seed)
        assert pair.compared > before
    pair.assert_no_mismatches()
    assert pair.compared > USERS_PER_DATAFILE * 10
    assert pair.rule_types["experiment"] > 0  # activate's impressions were compared
    assert pair.note_types["feature"] > 0
    assert pair.note_types["feature-variable"] > 0
    if detached:
        assert pair.note_types["ab-test"] > 0


def test_the_differential_cases_cover_every_kind_of_decision(
    make_facade_pair: MakeFacadePair,
) -> None:
    """Across the seeds, impressions of every rule type and every DECISION type show up."""
    rule_types: Counter[str] = Counter()
    note_types: Counter[str] = Counter()
    for seed in (0, 3, 4):
        datafile = generate_datafile(seed, sendFlagDecisions=True)
        for flag in datafile["featureFlags"][::2]:
            flag["experimentIds"] = []
        pair = make_facade_pair(datafile)
        rng = random.Random(seed)
        for spec in generate_users(datafile, seed, USERS_PER_DATAFILE):
            _run_user(pair, datafile, spec, rng, seed)
        pair.assert_no_mismatches()
        rule_types += pair.rule_types
        note_types += pair.note_types
    assert {"experiment", "feature-test", "rollout"} <= set(rule_types)
    assert {"ab-test", "feature-test", "feature", "feature-variable"} <= set(note_types)
    assert "all-feature-variables" in note_types


@pytest.mark.parametrize("seed", range(100, 104))
def test_pre_decide_sticky_bucketing_matches_reference(
    make_facade_pair: MakeFacadePair, seed: int
) -> None:
    datafile = generate_datafile(seed)
    users = generate_users(datafile, seed, 30)
    rng = random.Random(seed)
    experiments = list(datafile["experiments"])
    for group in datafile["groups"]:
        experiments.extend(group["experiments"])
    profiles: dict[str, Any] = {}
    for spec in users:
        if rng.random() < 0.6:
            stored = {
                e["id"]: {"variation_id": rng.choice([v["id"] for v in e["variations"]] + ["404"])}
                for e in rng.sample(experiments, min(3, len(experiments)))
            }
            profiles[spec.user_id] = {"user_id": spec.user_id, "experiment_bucket_map": stored}
    pair = make_facade_pair(datafile, profiles)
    for spec in users:
        _run_user(pair, datafile, spec, rng, seed)
    pair.assert_no_mismatches()
    ref_ups, our_ups = pair.ref_ups, pair.our_ups  # type: ignore[attr-defined]
    assert ref_ups.lookups == our_ups.lookups
    assert ref_ups.saves == our_ups.saves
    assert our_ups.saves


@pytest.mark.parametrize("seed", range(10))
def test_decide_through_the_facade_matches_reference(
    make_facade_pair: MakeFacadePair, seed: int
) -> None:
    datafile = generate_datafile(seed)
    pair = make_facade_pair(datafile)
    flags = [f["key"] for f in datafile["featureFlags"]]
    for spec in generate_users(datafile, seed, 60):
        ref_user = pair.reference.create_user_context(spec.user_id, dict(spec.attributes))
        our_user = pair.facade.create_user_context(spec.user_id, dict(spec.attributes))
        assert our_user is not None
        if spec.segments is not None:
            ref_user.set_qualified_segments(list(spec.segments))
            our_user.set_qualified_segments(list(spec.segments))
        for forced in spec.forced:
            ref_user.set_forced_decision(
                ref_user.OptimizelyDecisionContext(forced.flag_key, forced.rule_key),
                ref_user.OptimizelyForcedDecision(forced.variation_key),
            )
            our_user.set_forced_decision(
                OptimizelyUserContext.OptimizelyDecisionContext(forced.flag_key, forced.rule_key),
                OptimizelyUserContext.OptimizelyForcedDecision(forced.variation_key),
            )
        for key in flags:
            pair.expect(
                f"seed {seed} decide({key!r}) {spec!r}",
                decision_fields(ref_user.decide(key)),
                decision_fields(our_user.decide(key)),
            )
            pair.compare_events(f"seed {seed} decide({key!r}) {spec!r}")
        options = [
            OptimizelyDecideOption.DISABLE_DECISION_EVENT,
            OptimizelyDecideOption.INCLUDE_REASONS,
        ]
        ref_all = ref_user.decide_all(options)
        our_all = our_user.decide_all(options)
        pair.expect(f"seed {seed} decide_all keys", list(ref_all), list(our_all))
        for key in ref_all:
            pair.expect(
                f"seed {seed} decide_all {key!r}",
                decision_fields(ref_all[key]),
                decision_fields(our_all[key]),
            )
        ref_user.track_event("purchase", {"revenue": 5})
        our_user.track_event("purchase", {"revenue": 5})
        pair.compare_events(f"seed {seed} track_event {spec!r}")
    pair.assert_no_mismatches()


@pytest.mark.parametrize("seed", range(40, 43))
def test_default_decide_options_do_not_touch_the_pre_decide_api(
    make_facade_pair: MakeFacadePair, seed: int
) -> None:
    """The reference's legacy calls ignore default_decide_options: variables are still
    returned and impressions still sent; decide applies them."""
    datafile = generate_datafile(seed, sendFlagDecisions=True)
    defaults = [
        OptimizelyDecideOption.EXCLUDE_VARIABLES,
        OptimizelyDecideOption.DISABLE_DECISION_EVENT,
        OptimizelyDecideOption.IGNORE_USER_PROFILE_SERVICE,
    ]
    pair = make_facade_pair(datafile, {}, defaults)
    rng = random.Random(seed)
    for spec in generate_users(datafile, seed, 20):
        _run_user(pair, datafile, spec, rng, seed)
        user = pair.facade.create_user_context(spec.user_id, dict(spec.attributes))
        assert user is not None
        for key in [f["key"] for f in datafile["featureFlags"]]:
            assert user.decide(key).variables == {}
        pair.compare_events("decide with default options")  # none were sent
        assert {note[0] for note in pair.our_notes} == {"flag"}
        pair.our_notes.clear()
    pair.assert_no_mismatches()
    assert pair.rule_types["feature-test"] > 0
    assert pair.our_ups.saves  # type: ignore[attr-defined]


def test_known_difference_forced_variations_do_not_reach_decide(
    make_facade_pair: MakeFacadePair,
) -> None:
    """Deliberate: ``set_forced_variation`` applies to the facade's pre-decide calls only;
    the reference's ``decide`` honours it too. ``set_forced_decision`` is decide's way."""
    datafile = generate_datafile(3)
    pair = make_facade_pair(datafile)
    flag = datafile["featureFlags"][0]
    experiment = next(e for e in datafile["experiments"] if e["id"] == flag["experimentIds"][1])
    natural = pair.facade.get_variation(experiment["key"], "u1")
    forced = next(v["key"] for v in experiment["variations"] if v["key"] != natural)
    for client in (pair.reference, pair.facade):
        assert client.set_forced_variation(experiment["key"], "u1", forced)
        assert client.get_variation(experiment["key"], "u1") == forced
    ref = pair.reference.create_user_context("u1").decide(flag["key"])
    ours = pair.facade.create_user_context("u1")
    assert ours is not None
    assert (ref.rule_key, ref.variation_key) == (experiment["key"], forced)
    assert ours.decide(flag["key"]).variation_key != forced
    context = OptimizelyUserContext.OptimizelyDecisionContext(flag["key"], experiment["key"])
    ours.set_forced_decision(context, OptimizelyUserContext.OptimizelyForcedDecision(forced))
    assert ours.decide(flag["key"]).variation_key == forced


# --- lifecycle ------------------------------------------------------------------------


async def test_async_with_starts_and_closes_and_calls_fail_softly_after() -> None:
    from asyncexp.testing import IngestionServer

    datafile = generate_datafile(3)
    async with IngestionServer() as server:
        from asyncexp.aio.collectors import RealtimeCollector

        collector = RealtimeCollector(optimizely_events_url=server.events_url)
        facade = Optimizely(json.dumps(datafile), collector=collector)
        async with facade:
            assert facade.is_valid
            facade.track("purchase", "u1")
        # Leaving the block delivered the conversion.
        assert [b["visitors"][0]["visitor_id"] for b in server.event_batches] == ["u1"]
    assert not facade.is_valid
    key = _experiment_keys(datafile)[0]
    assert facade.activate(key, "u1") is None
    assert facade.is_feature_enabled(datafile["featureFlags"][0]["key"], "u1") is False
    assert facade.get_enabled_features("u1") == []
    assert facade.create_user_context("u1") is None
    assert facade.get_optimizely_config() is None


async def test_start_aclose_and_close_task() -> None:
    facade = Optimizely(json.dumps(generate_datafile(3)), collector=CapturingCollector())
    await facade.start()
    assert facade.get_optimizely_config() is not None
    task = facade.close()
    assert isinstance(task, asyncio.Task)
    await task
    assert not facade.is_valid
    await facade.aclose()  # idempotent


def test_close_without_a_running_loop_says_how_to_close() -> None:
    facade = Optimizely(json.dumps(generate_datafile(3)), collector=None)
    with pytest.raises(ClientStateError, match="aclose"):
        facade.close()


# --- bad input: what the reference returns --------------------------------------------

BAD_CALLS: list[tuple[str, tuple[Any, ...]]] = [
    ("activate", (None, "u1")),
    ("activate", ("", "u1")),
    ("activate", (5, "u1")),
    ("activate", ("{experiment}", None)),
    ("activate", ("{experiment}", 5)),
    ("activate", ("{experiment}", "u1", "not a dict")),
    ("activate", ("{experiment}", "u1", ["a"])),
    ("activate", ("{experiment}", "u1", [])),
    ("activate", ("no_such_experiment", "u1")),
    ("get_variation", (None, "u1")),
    ("get_variation", ("{experiment}", 1.5)),
    ("get_variation", ("{experiment}", "u1", "x")),
    ("get_variation", ("no_such_experiment", "u1")),
    ("track", ("", "u1")),
    ("track", (None, "u1")),
    ("track", ("purchase", None)),
    ("track", ("purchase", "u1", "x")),
    ("track", ("purchase", "u1", None, "tags")),
    ("track", ("purchase", "u1", None, ["tags"])),
    ("track", ("no_such_event", "u1")),
    ("track", ("purchase", "u1", {1: "x", "age": 3})),  # a key that is not str: left out
    ("activate", ("{experiment}", "u1", {1: "x"})),
    ("is_feature_enabled", ("{flag}", "u1", {1: "x"})),
    ("is_feature_enabled", ("", "u1")),
    ("is_feature_enabled", (None, "u1")),
    ("is_feature_enabled", ("{flag}", 7)),
    ("is_feature_enabled", ("{flag}", "u1", "x")),
    ("is_feature_enabled", ("no_such_flag", "u1")),
    ("get_enabled_features", (None,)),
    ("get_enabled_features", ("u1", "x")),
    ("get_enabled_features", ("u1", ["x"])),
    ("get_feature_variable", ("", "v", "u1")),
    ("get_feature_variable", ("{flag}", "", "u1")),
    ("get_feature_variable", ("{flag}", None, "u1")),
    ("get_feature_variable", ("{flag}", "{variable}", None)),
    ("get_feature_variable", ("{flag}", "{variable}", "u1", "x")),
    ("get_feature_variable", ("no_such_flag", "{variable}", "u1")),
    ("get_feature_variable", ("{flag}", "no_such_variable", "u1")),
    ("get_feature_variable_boolean", ("{flag}", "{variable}", 3)),
    ("get_feature_variable_json", (None, "{variable}", "u1")),
    ("get_all_feature_variables", ("", "u1")),
    ("get_all_feature_variables", ("{flag}", None)),
    ("get_all_feature_variables", ("{flag}", "u1", "x")),
    ("get_all_feature_variables", ("no_such_flag", "u1")),
    ("set_forced_variation", ("", "u1", "control")),
    ("set_forced_variation", ("{experiment}", None, "control")),
    ("set_forced_variation", ("{experiment}", "u1", "")),
    ("set_forced_variation", ("{experiment}", "u1", 5)),
    ("set_forced_variation", ("{experiment}", "u1", "no_such_variation")),
    ("set_forced_variation", ("no_such_experiment", "u1", "control")),
    ("set_forced_variation", ("{experiment}", "u1", None)),
    ("get_forced_variation", ("", "u1")),
    ("get_forced_variation", ("{experiment}", None)),
    ("get_forced_variation", ("no_such_experiment", "u1")),
    ("get_forced_variation", ("{experiment}", "u1")),
]


def _fill(args: tuple[Any, ...], datafile: dict[str, Any]) -> tuple[Any, ...]:
    flag = next(f for f in datafile["featureFlags"] if f["variables"])
    names = {
        "{experiment}": _experiment_keys(datafile)[0],
        "{flag}": flag["key"],
        "{variable}": flag["variables"][0]["key"],
    }
    return tuple(names.get(a, a) if isinstance(a, str) else a for a in args)


@pytest.mark.parametrize(("method", "args"), BAD_CALLS, ids=lambda v: repr(v))
def test_bad_input_returns_what_the_reference_returns(
    make_facade_pair: MakeFacadePair, method: str, args: tuple[Any, ...]
) -> None:
    datafile = generate_datafile(3)
    pair = make_facade_pair(datafile)
    filled = _fill(args, datafile)
    pair.call(f"{method}{filled!r}", method, *filled)
    assert pair.compared == 1
    pair.assert_no_mismatches()


@pytest.mark.parametrize(
    ("user_id", "attributes"), [(None, None), (5, {}), ("u1", "x"), ("u1", ["a"]), ("u1", None)]
)
def test_create_user_context_bad_input(
    make_facade_pair: MakeFacadePair, user_id: Any, attributes: Any
) -> None:
    pair = make_facade_pair(generate_datafile(3))
    ref = pair.reference.create_user_context(user_id, attributes)
    ours = pair.facade.create_user_context(user_id, attributes)
    assert (ref is None) == (ours is None)
    if ours is not None:
        assert ours.user_id == ref.user_id
        assert ours.get_user_attributes() == ref.get_user_attributes()


class _NoConfigYet:
    """A reference config manager that has not fetched anything (and never will)."""

    def get_config(self) -> None:
        return None

    def get_sdk_key(self) -> str:
        return "not-fetched"


def test_not_ready_returns_the_empty_values() -> None:
    """With an sdk_key and no datafile yet, every call returns its empty value."""
    facade = Optimizely(sdk_key="not-fetched", collector=None)  # not started: no request
    reference = optimizely_module.Optimizely(config_manager=_NoConfigYet())
    try:
        calls: list[tuple[str, tuple[Any, ...]]] = [
            ("activate", ("e", "u1")),
            ("get_variation", ("e", "u1")),
            ("track", ("purchase", "u1")),
            ("is_feature_enabled", ("f", "u1")),
            ("get_enabled_features", ("u1",)),
            ("get_feature_variable", ("f", "v", "u1")),
            ("get_feature_variable_string", ("f", "v", "u1")),
            ("get_all_feature_variables", ("f", "u1")),
            ("set_forced_variation", ("e", "u1", "v")),
            ("get_forced_variation", ("e", "u1")),
            ("get_optimizely_config", ()),
        ]
        for method, args in calls:
            ref = getattr(reference, method)(*args)
            ours = getattr(facade, method)(*args)
            assert same(ref, ours), (method, ref, ours)
    finally:
        reference.close()


# --- notification center ----------------------------------------------------------------


def test_notification_type_names_are_the_references() -> None:
    for name in ("ACTIVATE", "DECISION", "OPTIMIZELY_CONFIG_UPDATE", "TRACK", "LOG_EVENT"):
        assert getattr(NotificationTypes, name) == getattr(enums.NotificationTypes, name)
    for name in ("AB_TEST", "ALL_FEATURE_VARIABLES", "FEATURE", "FEATURE_TEST", "FLAG"):
        assert getattr(DecisionNotificationTypes, name) == getattr(
            enums.DecisionNotificationTypes, name
        )


def test_listener_ids_and_refusals_are_the_references(make_facade_pair: MakeFacadePair) -> None:
    pair = make_facade_pair(generate_datafile(3))

    def listener(*args: Any) -> None:
        pass

    for center in (pair.reference.notification_center, pair.facade.notification_center):
        center.clear_all_notification_listeners()
    results = []
    for center in (pair.reference.notification_center, pair.facade.notification_center):
        results.append(
            [
                center.add_notification_listener(NotificationTypes.TRACK, listener),
                center.add_notification_listener(NotificationTypes.TRACK, listener),  # again
                center.add_notification_listener("NO_SUCH_TYPE", listener),
                center.add_notification_listener(NotificationTypes.ACTIVATE, listener),
                center.remove_notification_listener(1),
                center.remove_notification_listener(1),
                center.add_notification_listener(NotificationTypes.TRACK, listener),
            ]
        )
    assert results[0] == results[1]
    assert results[1][0] >= 1


def test_track_log_event_and_activate_listeners_get_the_references_arguments(
    make_facade_pair: MakeFacadePair,
) -> None:
    datafile = generate_datafile(3)
    pair = make_facade_pair(datafile)
    got: dict[str, list[tuple[Any, ...]]] = {"ref": [], "ours": []}
    for side, center in (
        ("ref", pair.reference.notification_center),
        ("ours", pair.facade.notification_center),
    ):
        center.add_notification_listener(
            NotificationTypes.TRACK, lambda *a, side=side: got[side].append(("TRACK", *a))
        )
        center.add_notification_listener(
            NotificationTypes.ACTIVATE, lambda *a, side=side: got[side].append(("ACTIVATE", *a))
        )
    pair.reference.track("purchase", "u1", {"age": 30}, {"revenue": 5})
    pair.facade.track("purchase", "u1", {"age": 30}, {"revenue": 5})
    key = next(k for k in _experiment_keys(datafile) if pair.reference.activate(k, "u1"))
    assert pair.facade.activate(key, "u1") is not None
    ref_track, our_track = got["ref"][0], got["ours"][0]
    assert ref_track[:5] == our_track[:5]
    assert same(strip_volatile(ref_track[5]["params"]), strip_volatile(our_track[5]["params"]))
    ref_act = next(a for a in got["ref"] if a[0] == "ACTIVATE")
    our_act = next(a for a in got["ours"] if a[0] == "ACTIVATE")
    assert (ref_act[1].key, ref_act[1].id) == (our_act[1].key, our_act[1].id)
    assert ref_act[2:4] == our_act[2:4]
    assert (ref_act[4].key, ref_act[4].id) == (our_act[4].key, our_act[4].id)
    assert same(strip_volatile(ref_act[5]["params"]), strip_volatile(our_act[5]["params"]))


async def test_log_event_listener_gets_an_object_with_the_references_fields() -> None:
    from asyncexp.testing import IngestionServer

    datafile = generate_datafile(3)
    seen: list[Any] = []
    async with IngestionServer() as server:
        from asyncexp.aio.collectors import RealtimeCollector

        collector = RealtimeCollector(optimizely_events_url=server.events_url)
        async with Optimizely(json.dumps(datafile), collector=collector) as facade:
            facade.notification_center.add_notification_listener(
                NotificationTypes.LOG_EVENT, seen.append
            )
            facade.track("purchase", "u1")
            await server.wait_until(lambda s: len(s.event_batches) == 1)
        assert isinstance(seen[0], LogEvent)
        assert seen[0].http_verb == "POST"
        assert seen[0].url == server.events_url
        assert seen[0].params["visitors"][0]["visitor_id"] == "u1"
