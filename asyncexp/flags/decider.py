"""The synchronous decision service: options, profiles, variables, impressions, conversions.

``Decider`` is the public interface a :class:`~asyncexp.flags.user_context.UserContext`
talks to: ``decide``, ``decide_many`` and ``track_event``. It wraps the pure
decide flow with the parts that touch the outside world but never await: the
current datafile (:class:`~asyncexp.flags.current_config.CurrentConfig`), the
user-profile service (one ``lookup`` and at most one ``save`` per call), the
:class:`~asyncexp.flags.outbox.Outbox` (clock, ids, the collector's ``submit``,
notifications) and logging. Deliberate choices (see README "Compatibility"): ``ENABLED_FLAGS_ONLY``
keeps only enabled decisions (the reference also keeps unknown keys), unknown
keys always carry the "No flag was found" reason, and the client's default
options are never modified by a call.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, Protocol, cast

from asyncexp.core.flags.decide import evaluate_flag, profile_from_lookup
from asyncexp.core.flags.decision_types import (
    CmabAnswer,
    CmabUnavailable,
    DecideOption,
    DecisionSource,
    FlagResult,
    ProfileState,
    UserView,
)
from asyncexp.core.flags.events import (
    UserEvent,
    build_conversion,
    build_impression,
    build_visitor_attributes,
    impression_from_parts,
    impression_parts,
)
from asyncexp.core.flags.plan import Outcome, plan_for
from asyncexp.flags.cmab import AnswerSource, CachedSource, CmabResolver
from asyncexp.flags.decision import NOT_READY_REASON, Decision, flag_not_found_reason
from asyncexp.flags.outbox import visitor_encodable

if TYPE_CHECKING:
    from collections.abc import Mapping

    from asyncexp.core.flags.datafile import ProjectConfig
    from asyncexp.core.flags.entities import FeatureFlag, Rule, Variation
    from asyncexp.flags.current_config import CurrentConfig
    from asyncexp.flags.outbox import Outbox
    from asyncexp.flags.profile_store import ProfileLoader, ProfileSink

    # Type-only circle (decider ↔ user_context): the user context calls the decider.
    from asyncexp.flags.user_context import UserContext

__all__ = ["Decider", "EventSink", "UserProfileService", "normalize_options"]

logger = logging.getLogger("asyncexp.decide")
# Conversions were always logged as the user context's.
track_logger = logging.getLogger("asyncexp.user_context")

_INCLUDE_REASONS = DecideOption.INCLUDE_REASONS
_DISABLE_EVENT = DecideOption.DISABLE_DECISION_EVENT
_EXCLUDE_VARIABLES = DecideOption.EXCLUDE_VARIABLES
_ENABLED_ONLY = DecideOption.ENABLED_FLAGS_ONLY
_IGNORE_UPS = DecideOption.IGNORE_USER_PROFILE_SERVICE
_KNOWN = frozenset(o.value for o in DecideOption)


class UserProfileService(Protocol):
    """Sticky bucketing storage; both calls are synchronous because decisions never await."""

    def lookup(self, user_id: str) -> dict[str, Any] | None: ...

    def save(self, profile: dict[str, Any]) -> None: ...


class EventSink(Protocol):
    """Where impressions and conversions go (a collector); ``submit`` must not block."""

    def submit(self, item: UserEvent) -> None: ...


def evaluate_flag_probe(
    config: ProjectConfig, flag: FeatureFlag, view: UserView, profile: ProfileState | None
) -> None:
    """Run the flow for ``flag`` without reasons (``profile`` is a copy); raise
    ``CmabUnavailable`` at the first CMAB rule it reaches without an answer."""
    result = evaluate_flag(config, flag, view, profile, None)
    if result.error and result.rule is not None:
        raise CmabUnavailable(
            result.rule, view.cmab.answer(result.rule, view) if view.cmab else None
        )


def normalize_options(options: Iterable[str] | None) -> frozenset[str]:
    """Options as a set of their string values; unknown values are ignored."""
    if options is None:
        return frozenset()
    if isinstance(options, str):
        options = (options,)
    # StrEnum members hash and compare like their values, so no conversion is needed.
    return frozenset(options) & _KNOWN


class Decider:
    """Decides flags and builds conversions against the current config; never awaits."""

    def __init__(
        self,
        *,
        current: CurrentConfig,
        outbox: Outbox,
        user_profile_service: UserProfileService | None,
        default_options: frozenset[str],
        profile_loader: ProfileLoader | None = None,
        profile_sink: ProfileSink | None = None,
        cmab: CmabResolver | None = None,
    ) -> None:
        self._current = current
        # CMAB answers: the cache for plain decides, the prediction service for the
        # async variants (asyncexp.flags.cmab).
        self.cmab = cmab
        self._cmab_seen: tuple[ProjectConfig | None, bool] = (None, False)
        self._outbox = outbox
        self._sends = outbox.has_sink
        self._ups = user_profile_service
        # Async sticky bucketing: contexts load their profile before deciding (see
        # asyncexp.flags.profile_store); changed ones go to the write-behind sink.
        self.profile_loader = profile_loader
        self._sink = profile_sink
        self._profiles_on = user_profile_service is not None or profile_loader is not None
        self._defaults = default_options
        self._option_cache: dict[tuple[str, ...], frozenset[str]] = {}

    def _options(self, options: Iterable[str] | None) -> frozenset[str]:
        if not options:
            return self._defaults
        key = tuple(options)
        cached = self._option_cache.get(key)
        if cached is None:
            if len(self._option_cache) > 256:  # bounded: option lists are few in practice
                self._option_cache.clear()
            cached = self._option_cache[key] = self._defaults | normalize_options(key)
        return cached

    def _has_cmab(self, config: ProjectConfig) -> bool:
        seen, has = self._cmab_seen
        if seen is not config:
            has = any(rule.cmab is not None for rule in config.rules_by_id.values())
            self._cmab_seen = (config, has)
        return has

    def _view(
        self,
        config: ProjectConfig,
        snapshot: UserContext,
        cmab_answers: Mapping[str, CmabAnswer] | None,
    ) -> UserView:
        view = snapshot._view()
        if cmab_answers is not None:
            return view.with_cmab(AnswerSource(cmab_answers))
        if self.cmab is not None and self._has_cmab(config):
            return view.with_cmab(CachedSource(self.cmab, config))
        return view

    def decide(
        self,
        user: UserContext,
        key: str,
        options: Iterable[str] | None,
        cmab_answers: Mapping[str, CmabAnswer] | None = None,
    ) -> Decision:
        """``decide``: always returns a decision (ENABLED_FLAGS_ONLY does not apply).
        ``cmab_answers`` (by rule id) are what ``decide_async`` resolved; without them a
        CMAB rule reads the cache."""
        config = self._current._config
        snapshot = user._frozen or user._frozen_snapshot()
        if config is None:
            return Decision._lazy(None, False, None, None, key, snapshot, [NOT_READY_REASON])
        flag = config.flags.get(key)
        if flag is None:
            logger.error("No feature flag was found for key %r.", key)
            return Decision._lazy(
                None, False, None, None, key, snapshot, [flag_not_found_reason(key)]
            )
        opts = self._defaults if not options else self._options(options)
        include_reasons = _INCLUDE_REASONS in opts
        profile = self._profile_for(user, opts) if self._profiles_on else None
        if not include_reasons and profile is None and not snapshot._forced:
            try:
                plan = config.plans[key]
            except KeyError:
                plan = plan_for(config, flag)
            if plan is not None:
                view = snapshot._view_cache or snapshot._view()
                outcome = plan(view.attributes, view.segments, view.bucketing_id, view.user_id)
                if (self._sends and _DISABLE_EVENT not in opts) or self._outbox.decision_listeners:
                    return self._finish_outcome(config, flag, outcome, snapshot, opts)
                # Nothing to send, nobody listening: the decision alone.
                return Decision._lazy(
                    outcome.variation_key,
                    outcome.enabled,
                    None if _EXCLUDE_VARIABLES in opts else outcome.values,
                    outcome.rule_key,
                    key,
                    snapshot,
                    None,
                )
        reasons: list[str] | None = [] if include_reasons else None
        view = self._view(config, snapshot, cmab_answers)
        result = evaluate_flag(config, flag, view, profile, reasons)
        if result.error:
            return self._error_decision(config, flag, view, profile, snapshot, reasons)
        decision = self._finish(config, flag, result, snapshot, opts, reasons)
        if profile is not None and profile.changed:
            self._save_profile(profile, user)
        return decision

    def decide_many(
        self,
        user: UserContext,
        keys: Iterable[str] | None,
        options: Iterable[str] | None,
        cmab_answers: Mapping[str, CmabAnswer] | None = None,
    ) -> dict[str, Decision]:
        """``decide_for_keys`` (keys given) and ``decide_all`` (keys None). A CMAB error
        decision is kept even under ENABLED_FLAGS_ONLY (as the reference). The user's
        snapshot, view and bucketing id are taken once for all flags."""
        config = self._current.config
        if config is None:
            return {}
        snapshot = user._frozen or user._frozen_snapshot()
        opts = self._defaults if not options else self._options(options)
        flags = config.flags
        include_reasons = _INCLUDE_REASONS in opts
        enabled_only = _ENABLED_ONLY in opts
        profile = self._profile_for(user, opts) if self._profiles_on else None
        view = self._view(config, snapshot, cmab_answers)
        planned = not include_reasons and profile is None and not snapshot._forced
        plans = config.plans
        attributes, segments = view.attributes, view.segments
        bucketing_id, user_id = view.bucketing_id, view.user_id
        finish_outcome = self._finish_outcome
        lazy = Decision._lazy
        no_variables = _EXCLUDE_VARIABLES in opts
        quiet = not (self._sends and _DISABLE_EVENT not in opts) and not (
            self._outbox.decision_listeners
        )
        # decide_all fills every key in datafile order: made at its final size at once.
        out: dict[str, Decision] = (
            cast("dict[str, Decision]", dict.fromkeys(flags))
            if keys is None and not enabled_only
            else {}
        )
        for key in flags if keys is None else keys:
            flag = flags.get(key)
            if flag is None:
                logger.error("No feature flag was found for key %r.", key)
                if not enabled_only:
                    out[key] = Decision._lazy(
                        None, False, None, None, key, snapshot, [flag_not_found_reason(key)]
                    )
                continue
            if planned:
                plan = plans[key] if key in plans else plan_for(config, flag)
                if plan is not None:
                    outcome = plan(attributes, segments, bucketing_id, user_id)
                    if quiet:  # nothing to send, nobody listening: the decision alone
                        decision = lazy(
                            outcome.variation_key,
                            outcome.enabled,
                            None if no_variables else outcome.values,
                            outcome.rule_key,
                            key,
                            snapshot,
                            None,
                        )
                    else:
                        decision = finish_outcome(config, flag, outcome, snapshot, opts)
                    if outcome.enabled or not enabled_only:
                        out[key] = decision
                    continue
            reasons: list[str] | None = [] if include_reasons else None
            result = evaluate_flag(config, flag, view, profile, reasons)
            if result.error:
                out[key] = self._error_decision(config, flag, view, profile, snapshot, reasons)
                continue
            decision = self._finish(config, flag, result, snapshot, opts, reasons)
            if decision.enabled or not enabled_only:
                out[key] = decision
        if profile is not None and profile.changed:
            self._save_profile(profile, user)
        return out

    def _error_decision(
        self,
        config: ProjectConfig,
        flag: FeatureFlag,
        view: UserView,
        profile: ProfileState | None,
        snapshot: UserContext,
        reasons: list[str] | None,
    ) -> Decision:
        """The reference's error decision for a CMAB rule without an answer: no variation,
        no variables, no impression, no notification; its reasons are always given (the
        flow runs again to collect them when they were not asked for)."""
        if reasons is None:
            reasons = []
            evaluate_flag(config, flag, view, profile, reasons)
        return Decision(
            variation_key=None,
            enabled=False,
            variables={},
            rule_key=None,
            flag_key=flag.key,
            user_context=snapshot,
            reasons=reasons,
        )

    # -- CMAB: the only awaiting part, before the synchronous decide ----------------------
    async def resolve_cmab(
        self, user: UserContext, keys: Iterable[str] | None, options: Iterable[str] | None
    ) -> dict[str, CmabAnswer]:
        """The CMAB answers a decide of ``keys`` (None: every flag) will need, by rule id.

        The flow runs without side effects (no reasons, no events, a copy of the
        profile ``load_profile`` loaded; a synchronous user-profile service is not asked,
        so that a call still makes one lookup) with the answers found so far; each CMAB
        rule it stops at is resolved (cache, else the prediction service) and the flag
        runs again, until no flag stops. A rule whose fetch failed stays failed: the
        decide then gives the error decision."""
        config = self._current.config
        answers: dict[str, CmabAnswer] = {}
        if config is None or not self._has_cmab(config):
            return answers
        opts = self._options(options)
        view = user._snapshot()._view().with_cmab(AnswerSource(answers))
        loaded = user._profile if _IGNORE_UPS not in opts else None
        profile = None
        if loaded is not None:
            profile = ProfileState(user.user_id, {k: dict(v) for k, v in loaded.items()})
        resolver = self.cmab or CmabResolver(None, clock=lambda: 0.0, id_factory=str)
        flags = config.flags
        for key in flags if keys is None else keys:
            flag = flags.get(key)
            while flag is not None:
                try:
                    evaluate_flag_probe(config, flag, view, profile)
                    break
                except CmabUnavailable as missing:
                    rule = missing.rule
                    if rule.id in answers:  # resolved and still unusable: the error decision
                        break
                    answers[rule.id] = await resolver.resolve(config, rule, view, opts)
        return answers

    def _finish(
        self,
        config: ProjectConfig,
        flag: FeatureFlag,
        result: FlagResult,
        snapshot: UserContext,
        opts: frozenset[str],
        reasons: list[str] | None,
    ) -> Decision:
        """The decision of a full-flow result, its impressions and notification."""
        variation = result.variation
        decision = Decision._lazy(
            variation.key if variation is not None else None,
            bool(variation.feature_enabled) if variation is not None else False,
            None if _EXCLUDE_VARIABLES in opts else flag.variable_values(variation),
            result.rule.key if result.rule is not None else None,
            flag.key,
            snapshot,
            reasons,
        )
        sent = False
        if _DISABLE_EVENT not in opts and self._sends:
            sent = self._send_impressions(config, flag, result, snapshot, None)
        self._outbox.decision(snapshot, decision, sent, result)
        return decision

    def _finish_outcome(
        self,
        config: ProjectConfig,
        flag: FeatureFlag,
        outcome: Outcome,
        snapshot: UserContext,
        opts: frozenset[str],
    ) -> Decision:
        """The decision of a planned outcome (no reasons), its impression and notification."""
        decision = Decision._lazy(
            outcome.variation_key,
            outcome.enabled,
            None if _EXCLUDE_VARIABLES in opts else outcome.values,
            outcome.rule_key,
            flag.key,
            snapshot,
            None,
        )
        sent = False
        if self._sends and _DISABLE_EVENT not in opts:
            sent = self._send_impressions(config, flag, outcome.result, snapshot, outcome)
        self._outbox.decision(snapshot, decision, sent, outcome.result)
        return decision

    def _visitor(
        self, config: ProjectConfig, user: UserContext
    ) -> tuple[list[dict[str, Any]], bool]:
        """The visitor attributes of a frozen snapshot and whether its text is encodable,
        built once per snapshot and datafile attributes (events only read them)."""
        cached = user._visitor
        ids, bots = config.attribute_ids, config.bot_filtering
        if cached is not None and cached[0] is ids and cached[1] is bots:
            return cached[2], cached[3]
        attrs = build_visitor_attributes(user._attributes, ids, bots)
        ok = visitor_encodable(user.user_id, attrs)
        user._visitor = (ids, bots, attrs, ok)
        return attrs, ok

    def _send_impressions(
        self,
        config: ProjectConfig,
        flag: FeatureFlag,
        result: FlagResult,
        user: UserContext,
        outcome: Outcome | None,
    ) -> bool:
        """Send the decision's impressions; visitor attributes are shared by every event of
        the snapshot (events are read-only once built)."""
        holdout_too = (
            result.bypassed_holdout is not None and result.source != DecisionSource.HOLDOUT
        )
        main = result.source != DecisionSource.ROLLOUT or config.send_flag_decisions
        if not (holdout_too or main):
            return False
        attrs, ok = self._visitor(config, user)
        if holdout_too and result.bypassed_holdout is not None:
            holdout, variation = result.bypassed_holdout
            self._submit(config, flag, holdout, variation, "holdout", user, attrs, ok)
        if main:
            if outcome is not None:
                self._submit_outcome(config, flag, outcome, user, attrs, ok)
            else:
                self._submit(
                    config,
                    flag,
                    result.rule,
                    result.variation,
                    result.source,
                    user,
                    attrs,
                    ok,
                    result.cmab_uuid,
                )
        return main

    def _submit_outcome(
        self,
        config: ProjectConfig,
        flag: FeatureFlag,
        outcome: Outcome,
        user: UserContext,
        attrs: list[dict[str, Any]],
        ok: bool,
    ) -> None:
        """A planned outcome's impression: its decision part is built once per outcome
        and shared by its events (read-only), so an event is a few small containers."""
        parts = outcome.impression
        if parts is None:
            rule, variation = outcome.rule, outcome.variation
            parts = outcome.impression = impression_parts(
                layer_id=rule.layer_id if rule is not None and rule.kind != "holdout" else None,
                experiment_id=rule.id if rule is not None else None,
                variation_id=variation.id if variation is not None else None,
                flag_key=flag.key,
                rule_key=rule.key if rule is not None else "",
                rule_type=str(outcome.source),
                variation_key=variation.key if variation is not None else "",
                enabled=outcome.enabled,
            )
        outbox = self._outbox
        event = impression_from_parts(
            config.event_context, parts, user.user_id, attrs, outbox.new_id(), outbox.clock_ms()
        )
        outbox.submit_impression(event, ok)

    def _submit(
        self,
        config: ProjectConfig,
        flag: FeatureFlag,
        rule: Rule | None,
        variation: Variation | None,
        rule_type: str,
        user: UserContext,
        attrs: list[dict[str, Any]],
        ok: bool,
        cmab_uuid: str | None = None,
    ) -> None:
        outbox = self._outbox
        event = build_impression(
            config.event_context,
            user_id=user.user_id,
            attributes=attrs,
            # A holdout's campaign is its own id, even with a layerId (as the reference).
            layer_id=rule.layer_id if rule is not None and rule.kind != "holdout" else None,
            experiment_id=rule.id if rule is not None else None,
            variation_id=variation.id if variation is not None else None,
            flag_key=flag.key,
            rule_key=rule.key if rule is not None else "",
            rule_type=str(rule_type),
            variation_key=variation.key if variation is not None else "",
            enabled=bool(variation.feature_enabled) if variation is not None else False,
            uuid=outbox.new_id(),
            timestamp=outbox.clock_ms(),
            cmab_uuid=cmab_uuid,
        )
        outbox.submit_impression(event, ok)

    # -- conversions ----------------------------------------------------------------------
    def track_event(
        self, user: UserContext, event_key: str, event_tags: Mapping[str, Any] | None
    ) -> None:
        """Send a conversion for ``user`` (arguments already checked); an unknown event key
        or a missing datafile is logged, not raised."""
        config = self._current.config
        if config is None:
            track_logger.error(
                'Not tracking user "%s" for event "%s": no datafile yet.', user.user_id, event_key
            )
            return
        event = config.events.get(event_key)
        if event is None:
            track_logger.error(
                'Event "%s" is not in datafile; not tracking user "%s".', event_key, user.user_id
            )
            return
        outbox = self._outbox
        user_event = build_conversion(
            config.event_context,
            user_id=user.user_id,
            attributes=build_visitor_attributes(
                user._attributes, config.attribute_ids, config.bot_filtering
            ),
            event_id=event.id,
            event_key=event_key,
            event_tags=event_tags,
            uuid=outbox.new_id(),
            timestamp=outbox.clock_ms(),
        )
        outbox.submit_conversion(user_event, user, event_tags)

    def _profile_for(self, user: UserContext, opts: frozenset[str]) -> ProfileState | None:
        """The profile a call decides with: the context's loaded one (decided against in
        place, so it stays sticky within the context), else one synchronous lookup."""
        if _IGNORE_UPS in opts:
            return None
        loaded = user._profile
        if loaded is not None:
            return ProfileState(user.user_id, loaded)
        if self._ups is not None:
            return self._load_profile(user.user_id)
        if self.profile_loader is not None:
            self.profile_loader.stats.unloaded_decides += 1
        return None

    def _load_profile(self, user_id: str) -> ProfileState | None:
        """One lookup per call. A failed lookup disables the profile for this call, so
        a partial profile never overwrites the stored one (the reference saves it)."""
        assert self._ups is not None
        try:
            found = self._ups.lookup(user_id)
        except Exception:
            logger.exception(
                'Unable to retrieve user profile for user "%s" as lookup failed.', user_id
            )
            return None
        return profile_from_lookup(user_id, found)

    def _save_profile(self, profile: ProfileState, user: UserContext) -> None:
        if profile.bucket_map is user._profile:
            if self._sink is not None:
                self._sink.enqueue(profile.as_dict())  # write-behind: never blocks
            return
        assert self._ups is not None
        try:
            self._ups.save(profile.as_dict())
        except Exception as exc:
            logger.warning('Failed to save user profile of user "%s": %s', profile.user_id, exc)
