"""The Optimizely Python SDK's client API over asyncexp: port a service by its imports.

``Optimizely`` (alias ``OptimizelyCompat``) has the public methods of
``optimizely.optimizely.Optimizely`` (5.7.0) with the same parameter names and
positional orders, backed by an :class:`asyncexp.Client` it owns:

* ``create_user_context(user_id, attributes)``: an asyncexp ``UserContext``
  (``decide``, ``decide_for_keys``, ``decide_all``, ``track_event``, forced
  decisions, segments) built with the client's default decide options;
* ``notification_center``: the reference's ``add_notification_listener`` /
  ``remove_notification_listener`` / ``clear_notification_listeners`` /
  ``clear_all_notification_listeners`` over the client's notifications, with
  the reference's type strings (:class:`NotificationTypes`);
* ``get_optimizely_config()``: the project-config view (snake_case attributes,
  and the camelCase keys of the object model through ``to_dict()``);
* the pre-decide API: ``activate``, ``get_variation``, ``track``,
  ``is_feature_enabled``, ``get_enabled_features``, ``get_feature_variable``
  and its ``_boolean`` / ``_double`` / ``_integer`` / ``_string`` / ``_json``
  variants, ``get_all_feature_variables``, ``set_forced_variation``,
  ``get_forced_variation``; ``is_valid``.

Start and close: everything runs on the event loop, so the service awaits its
start and its close instead of relying on threads::

    async with Optimizely(datafile) as optimizely_client:   # was: Optimizely(datafile)
        user = optimizely_client.create_user_context("u1", {"country": "US"})
        decision = user.decide("checkout")                   # unchanged

or ``await optimizely_client.start()`` ... ``await optimizely_client.aclose()``;
``close()`` is a plain call that schedules the same close and returns its
``asyncio.Task``. A static ``datafile`` decides from construction on;
``sdk_key`` polls once ``start()`` runs. Events go to a ``RealtimeCollector``
(one request per event, in the background, to the datafile's region endpoint)
unless ``collector=`` names another (``None``: nothing is sent).

Bad input, as the reference: a wrong type, an empty key, an unknown
experiment / flag / variable / event key, a typed getter on a variable of
another type, or no datafile yet is logged (``asyncexp.compat.optimizely``)
and the call returns its empty value: ``None`` (``activate``,
``get_variation``, ``get_forced_variation``, the variable getters,
``get_all_feature_variables``, ``create_user_context``), ``False``
(``is_feature_enabled``, ``set_forced_variation``), ``[]``
(``get_enabled_features``); ``track`` returns ``None`` either way. Nothing
raises for these. After the facade is closed ``is_valid`` is false and every
call fails that way, with the reference's "not valid" log line.

Differences, on purpose (see ``docs-drafts/compat-optimizely.md``):

* ``decide`` returns asyncexp ``Decision`` objects (``as_dict()``, not
  ``as_json()``); reasons are listed once;
* forced variations set with ``set_forced_variation`` apply to ``activate``,
  ``get_variation`` and the feature calls of this facade; ``decide`` on a user
  context uses forced decisions (``set_forced_decision``) only;
* ``ACTIVATE`` listeners are called for the impressions this facade sends
  (``activate``, ``is_feature_enabled``, ``get_enabled_features``), not for
  those of ``decide``; they get asyncexp's rule and variation entities;
* a CMAB experiment is skipped by ``activate`` / ``get_variation`` (they give
  None); ``decide`` on a user context serves a valid cached prediction and
  otherwise gives the reference's error decision (a decision never waits for a
  prediction service: asyncexp's ``UserContext.decide_async`` fetches one);
* ``track`` with event-tag keys that are not str sends nothing and logs an
  error (asyncexp's ``track_event`` rule; the reference stringifies them);
* constructor arguments for threads and transports (``event_dispatcher``,
  ``event_processor``, ``config_manager``, ``logger``, ``error_handler``) do
  not exist: pass ``collector=`` and the :class:`~asyncexp.Client` keywords.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable, Mapping
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal, Self

from asyncexp.aio.collectors import RealtimeCollector
from asyncexp.aio.ids import new_event_id
from asyncexp.client import Client
from asyncexp.core.flags.decide import bucketing_id_for, evaluate_flag, profile_from_lookup
from asyncexp.core.flags.decide_checks import local_holdout
from asyncexp.core.flags.decision_types import (
    DecideOption,
    DecisionContext,
    DecisionSource,
    FlagResult,
    ForcedDecision,
    ProfileState,
    UserView,
)
from asyncexp.core.flags.events import log_event_dict
from asyncexp.core.flags.experiments import (
    experiment_decision,
    experiment_impression,
    flag_keys_of_experiment,
    rule_impression,
)
from asyncexp.errors import AsyncExpError, ClientStateError
from asyncexp.flags.notifications import NotificationCenter, NotificationType

if TYPE_CHECKING:
    from asyncexp.aio.collectors.base import Collector
    from asyncexp.core.flags.datafile import ProjectConfig
    from asyncexp.core.flags.entities import FeatureFlag, Rule, VariableDef, Variation
    from asyncexp.core.flags.events import UserEvent
    from asyncexp.flags.config_view import ProjectConfigView
    from asyncexp.flags.decider import UserProfileService
    from asyncexp.flags.user_context import UserContext

__all__ = [
    "DecisionNotificationTypes",
    "LogEvent",
    "NotificationTypes",
    "Optimizely",
    "OptimizelyCompat",
    "OptimizelyDecideOption",
    "OptimizelyNotificationCenter",
    "OptimizelyUserContext",
    "enums",
]

logger = logging.getLogger("asyncexp.compat.optimizely")

OptimizelyDecideOption = DecideOption
"""The reference's decide options (same string values)."""


class OptimizelyUserContext:
    """The reference's nested names: ``OptimizelyUserContext.OptimizelyDecisionContext``
    and ``OptimizelyUserContext.OptimizelyForcedDecision`` (asyncexp's classes)."""

    OptimizelyDecisionContext = DecisionContext
    OptimizelyForcedDecision = ForcedDecision


class NotificationTypes:
    """The reference's notification type strings (``enums.NotificationTypes``)."""

    ACTIVATE = "ACTIVATE:experiment, user_id, attributes, variation, event"
    DECISION = "DECISION:type, user_id, attributes, decision_info"
    OPTIMIZELY_CONFIG_UPDATE = "OPTIMIZELY_CONFIG_UPDATE"
    TRACK = "TRACK:event_key, user_id, attributes, event_tags, event"
    LOG_EVENT = "LOG_EVENT:log_event"


class DecisionNotificationTypes:
    """The ``type`` a DECISION listener gets (``enums.DecisionNotificationTypes``)."""

    AB_TEST = "ab-test"
    ALL_FEATURE_VARIABLES = "all-feature-variables"
    FEATURE = "feature"
    FEATURE_TEST = "feature-test"
    FEATURE_VARIABLE = "feature-variable"
    FLAG = "flag"


class _Enums:
    """``enums.NotificationTypes`` / ``enums.DecisionNotificationTypes``, as the
    reference's ``optimizely.helpers.enums`` spells them."""

    NotificationTypes = NotificationTypes
    DecisionNotificationTypes = DecisionNotificationTypes


enums = _Enums()
"""Replaces ``from optimizely.helpers import enums`` for the notification names."""


class LogEvent:
    """What a LOG_EVENT listener gets, as the reference's object: ``url``, ``params``,
    ``http_verb``, ``headers``."""

    def __init__(
        self, url: str, params: dict[str, Any], http_verb: str, headers: dict[str, str]
    ) -> None:
        self.url = url
        self.params = params
        self.http_verb = http_verb
        self.headers = headers

    def __repr__(self) -> str:
        return f"LogEvent(url={self.url!r}, http_verb={self.http_verb!r})"


_ACTIVATE = "ACTIVATE"
_TYPES: dict[str, str] = {
    NotificationTypes.ACTIVATE: _ACTIVATE,
    _ACTIVATE: _ACTIVATE,
    NotificationTypes.DECISION: NotificationType.DECISION,
    NotificationTypes.OPTIMIZELY_CONFIG_UPDATE: NotificationType.CONFIG_UPDATE,
    NotificationTypes.TRACK: NotificationType.TRACK,
    NotificationTypes.LOG_EVENT: NotificationType.LOG_EVENT,
    **{t.value: t.value for t in NotificationType},
}

Listener = Callable[..., Any]


def _log_event_listener(callback: Listener) -> Listener:
    def deliver(log_event: Mapping[str, Any]) -> Any:
        return callback(
            LogEvent(
                log_event["url"], log_event["params"], log_event["http_verb"], log_event["headers"]
            )
        )

    return deliver


class OptimizelyNotificationCenter:
    """The reference's listener API over the client's :class:`NotificationCenter`.

    Ids start at 1. ``add_notification_listener`` returns -1 (and logs) for an
    unknown type or a callback already added for that type, as the reference.
    Types are :class:`NotificationTypes` strings (the short asyncexp names
    ``"DECISION"``, ``"TRACK"``, … work too). ``ACTIVATE`` listeners live here:
    the facade calls them for the impressions it sends itself.
    """

    def __init__(self, inner: NotificationCenter) -> None:
        self._inner = inner
        self._next_id = 1
        # facade id → (kind, the callback as given, the id in the client's center or None)
        self._entries: dict[int, tuple[str, Listener, int | None]] = {}

    def add_notification_listener(
        self, notification_type: str, notification_callback: Listener
    ) -> int:
        kind = _TYPES.get(notification_type) if isinstance(notification_type, str) else None
        if kind is None:
            logger.error('Invalid notification_type: "%s" provided.', notification_type)
            return -1
        if not callable(notification_callback):
            logger.error("Provided notification_callback is not callable.")
            return -1
        for entry_kind, callback, _ in self._entries.values():
            if entry_kind == kind and callback == notification_callback:
                logger.error("Listener has already been added. Not adding it again.")
                return -1
        inner_id: int | None = None
        if kind != _ACTIVATE:
            deliver = notification_callback
            if kind == NotificationType.LOG_EVENT:
                deliver = _log_event_listener(notification_callback)
            inner_id = self._inner.add_listener(kind, deliver)
        listener_id = self._next_id
        self._next_id += 1
        self._entries[listener_id] = (kind, notification_callback, inner_id)
        return listener_id

    def remove_notification_listener(self, notification_id: int) -> bool:
        entry = self._entries.pop(notification_id, None)
        if entry is None:
            return False
        if entry[2] is not None:
            self._inner.remove_listener(entry[2])
        return True

    def clear_notification_listeners(self, notification_type: str) -> None:
        kind = _TYPES.get(notification_type) if isinstance(notification_type, str) else None
        if kind is None:
            logger.error('Invalid notification_type: "%s" provided.', notification_type)
            return
        for listener_id in [i for i, entry in self._entries.items() if entry[0] == kind]:
            self.remove_notification_listener(listener_id)

    def clear_all_notification_listeners(self) -> None:
        for listener_id in list(self._entries):
            self.remove_notification_listener(listener_id)

    # The reference's deprecated names.
    clear_notifications = clear_notification_listeners
    clear_all_notifications = clear_all_notification_listeners

    def send_notifications(self, notification_type: str, *args: Any) -> None:
        """Call the listeners of a type with ``args``; a listener that raises is logged."""
        kind = _TYPES.get(notification_type) if isinstance(notification_type, str) else None
        if kind is None:
            logger.error('Invalid notification_type: "%s" provided.', notification_type)
            return
        if kind != _ACTIVATE:
            self._inner.send(NotificationType(kind), *args)
            return
        for entry_kind, callback, _ in list(self._entries.values()):
            if entry_kind == _ACTIVATE:
                try:
                    callback(*args)
                except Exception:
                    logger.exception("ACTIVATE listener %r raised", callback)

    def has_activate_listeners(self) -> bool:
        return any(entry[0] == _ACTIVATE for entry in self._entries.values())


def _key_ok(value: object) -> bool:
    """The reference's ``is_non_empty_string``."""
    return isinstance(value, str) and bool(value)


def _attrs(attributes: object) -> dict[str, Any]:
    return dict(attributes) if isinstance(attributes, dict) else {}


def _attributes_ok(attributes: object) -> bool:
    """The reference lets falsy attributes through and wants exactly a dict otherwise."""
    return not attributes or type(attributes) is dict


class Optimizely:
    """The reference client's API over an owned :class:`~asyncexp.Client`.

    ``datafile`` is the only positional parameter, as the reference's first;
    ``sdk_key``, ``user_profile_service``, ``datafile_access_token`` and
    ``default_decide_options`` keep the reference's names. ``collector``,
    ``clock``, ``id_factory`` and the other keywords go to the ``Client``.
    """

    def __init__(
        self,
        datafile: str | bytes | Mapping[str, Any] | None = None,
        *,
        sdk_key: str | None = None,
        user_profile_service: UserProfileService | None = None,
        datafile_access_token: str | None = None,
        default_decide_options: Iterable[str] | None = None,
        collector: Collector | Literal["default"] | None = "default",
        clock: Callable[[], float] = time.time,
        id_factory: Callable[[], str] | None = None,
        **client_options: Any,
    ) -> None:
        sink: Collector | None = RealtimeCollector() if collector == "default" else collector
        self._collector = sink
        self._ups = user_profile_service
        self._clock = clock
        self._new_id = id_factory or new_event_id
        self.client = Client(
            datafile=datafile,
            sdk_key=sdk_key,
            datafile_access_token=datafile_access_token,
            user_profile_service=user_profile_service,
            default_decide_options=default_decide_options,
            collector=sink,
            clock=clock,
            id_factory=self._new_id,
            **client_options,
        )
        self.notification_center = OptimizelyNotificationCenter(self.client.notifications)
        # set_forced_variation: user id → {experiment id: variation id}, in memory.
        self._forced: dict[str, dict[str, str]] = {}

    # -- lifecycle ----------------------------------------------------------
    async def start(self) -> None:
        """Start the client (collector, polling) and wait for a first datafile."""
        await self.client.start()

    async def aclose(self, timeout: float | None = None) -> None:
        """Close the client: polling stops, queued events are delivered (or spooled)."""
        await self.client.aclose(timeout)

    def close(self) -> asyncio.Task[None]:
        """The reference's ``close()``: schedules ``aclose()`` and returns its task."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            raise ClientStateError(
                "close() needs a running event loop: use `await client.aclose()` "
                "or `async with Optimizely(...)`"
            ) from None
        return loop.create_task(self.client.aclose())

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    @property
    def is_valid(self) -> bool:
        """True until the facade is closed (construction errors raise instead)."""
        return not self.client.closed

    # -- helpers ------------------------------------------------------------
    def _config(self, api: str) -> ProjectConfig | None:
        if not self.is_valid:
            logger.error('Optimizely instance is not valid. Failing "%s".', api)
            return None
        config = self.client.config
        if config is None:
            logger.error('Invalid config. Optimizely instance is not valid. Failing "%s".', api)
        return config

    def _profile(self, user_id: str) -> ProfileState | None:
        if self._ups is None:
            return None
        try:
            found = self._ups.lookup(user_id)
        except Exception:
            logger.exception('Unable to retrieve user profile for user "%s".', user_id)
            return None
        return profile_from_lookup(user_id, found)

    def _save(self, profile: ProfileState | None) -> None:
        if profile is None or not profile.changed or self._ups is None:
            return
        try:
            self._ups.save(profile.as_dict())
        except Exception as exc:
            logger.warning('Failed to save user profile of user "%s": %s', profile.user_id, exc)

    def _submit(
        self, event: UserEvent, rule: Rule | None, variation: Variation | None, given: object
    ) -> None:
        """Send an impression, then ACTIVATE with the attributes as the caller gave them."""
        if self._collector is not None:
            self._collector.submit(event)
        center = self.notification_center
        if center.has_activate_listeners():
            center.send_notifications(
                _ACTIVATE,
                rule,
                event.visitor["visitor_id"],
                given,
                variation,
                log_event_dict([event]),
            )

    def _decision_notification(
        self, kind: str, user_id: str, attributes: Mapping[str, Any], info: dict[str, Any]
    ) -> None:
        inner = self.client.notifications
        if inner.has_listeners(NotificationType.DECISION):
            inner.send(NotificationType.DECISION, kind, user_id, dict(attributes), info)

    def _forced_variation_id(self, rule: Rule, user_id: str) -> str | None:
        found = self._forced.get(user_id)
        return found.get(rule.id) if found else None

    # -- experiments --------------------------------------------------------
    def _experiment(
        self, api: str, experiment_key: object, user_id: object, attributes: object
    ) -> tuple[ProjectConfig, Rule, str, dict[str, Any]] | None:
        if not _key_ok(experiment_key):
            logger.error('Provided "experiment_key" is in an invalid format.')
            return None
        if not isinstance(user_id, str):
            logger.error('Provided "user_id" is in an invalid format.')
            return None
        config = self._config(api)
        if config is None:
            return None
        assert isinstance(experiment_key, str)
        rule = config.experiments_by_key.get(experiment_key)
        if rule is None:
            logger.info(
                'Experiment key "%s" is invalid. Not activating user "%s".', experiment_key, user_id
            )
            return None
        if not _attributes_ok(attributes):
            logger.error("Provided attributes are in an invalid format.")
            return None
        return config, rule, user_id, _attrs(attributes)

    def _variation(
        self, config: ProjectConfig, rule: Rule, user_id: str, attributes: dict[str, Any]
    ) -> Variation | None:
        profile = self._profile(user_id)
        view = UserView(user_id, attributes, None, {})
        variation = experiment_decision(
            config, rule, view, self._forced_variation_id(rule, user_id), profile
        )
        self._save(profile)
        kind = "feature-test" if flag_keys_of_experiment(config, rule) else "ab-test"
        info = {
            "experiment_key": rule.key,
            "variation_key": variation.key if variation is not None else None,
        }
        self._decision_notification(kind, user_id, attributes, info)
        return variation

    def activate(
        self, experiment_key: str, user_id: str, attributes: dict[str, Any] | None = None
    ) -> str | None:
        """Decide the experiment and send its impression; the variation key, or None
        (not running, not targeted, no traffic, bad input: logged)."""
        found = self._experiment("activate", experiment_key, user_id, attributes)
        if found is None:
            return None
        config, rule, uid, attrs = found
        variation = self._variation(config, rule, uid, attrs)
        if variation is None:
            logger.info('Not activating user "%s".', uid)
            return None
        logger.info('Activating user "%s" in experiment "%s".', uid, rule.key)
        event = experiment_impression(
            config,
            rule,
            variation,
            user_id=uid,
            attributes=attrs,
            uuid=self._new_id(),
            timestamp=round(self._clock() * 1000),
        )
        self._submit(event, rule, variation, attributes)
        return variation.key

    def get_variation(
        self, experiment_key: str, user_id: str, attributes: dict[str, Any] | None = None
    ) -> str | None:
        """Decide the experiment without an impression; the variation key, or None."""
        found = self._experiment("get_variation", experiment_key, user_id, attributes)
        if found is None:
            return None
        variation = self._variation(*found)
        return variation.key if variation is not None else None

    def set_forced_variation(
        self, experiment_key: str, user_id: str, variation_key: str | None
    ) -> bool:
        """Force ``user_id`` into a variation of the experiment (None removes it); False
        for an unknown experiment or variation, or bad input (logged)."""
        if not _key_ok(experiment_key):
            logger.error('Provided "experiment_key" is in an invalid format.')
            return False
        if not isinstance(user_id, str):
            logger.error('Provided "user_id" is in an invalid format.')
            return False
        config = self._config("set_forced_variation")
        if config is None:
            return False
        rule = config.experiments_by_key.get(experiment_key)
        if rule is None:
            logger.error('Experiment key "%s" is not in datafile.', experiment_key)
            return False
        if variation_key is None:
            mapped = self._forced.get(user_id)
            if mapped is not None:
                mapped.pop(rule.id, None)
            return True
        if not _key_ok(variation_key):
            logger.debug("Variation key is invalid.")
            return False
        variation = rule.variations_by_key.get(variation_key)
        if variation is None:
            logger.error('Variation key "%s" is not in datafile.', variation_key)
            return False
        self._forced.setdefault(user_id, {})[rule.id] = variation.id
        return True

    def get_forced_variation(self, experiment_key: str, user_id: str) -> str | None:
        """The variation key set with ``set_forced_variation``, or None."""
        if not _key_ok(experiment_key):
            logger.error('Provided "experiment_key" is in an invalid format.')
            return None
        if not isinstance(user_id, str):
            logger.error('Provided "user_id" is in an invalid format.')
            return None
        config = self._config("get_forced_variation")
        if config is None:
            return None
        rule = config.experiments_by_key.get(experiment_key)
        if rule is None:
            logger.error('Experiment key "%s" is not in datafile.', experiment_key)
            return None
        variation_id = self._forced_variation_id(rule, user_id)
        variation = rule.variations_by_id.get(variation_id) if variation_id else None
        return variation.key if variation is not None else None

    # -- conversions --------------------------------------------------------
    def track(
        self,
        event_key: str,
        user_id: str,
        attributes: dict[str, Any] | None = None,
        event_tags: dict[str, Any] | None = None,
    ) -> None:
        """Send a conversion; an unknown event or bad input is logged, not raised."""
        if not _key_ok(event_key):
            logger.error('Provided "event_key" is in an invalid format.')
            return
        if not isinstance(user_id, str):
            logger.error('Provided "user_id" is in an invalid format.')
            return
        if not _attributes_ok(attributes):
            logger.error("Provided attributes are in an invalid format.")
            return
        if event_tags and type(event_tags) is not dict:
            logger.error("Provided event tags are in an invalid format.")
            return
        config = self._config("track")
        if config is None:
            return
        if event_key not in config.events:
            logger.error('Event "%s" is not in datafile.', event_key)
            logger.info('Not tracking user "%s" for event "%s".', user_id, event_key)
            return
        try:
            # Keys that are not str cannot be sent (the reference leaves them out too).
            sendable = {k: v for k, v in _attrs(attributes).items() if isinstance(k, str)}
            user = self.client.create_user_context(user_id, sendable)
            user.track_event(event_key, event_tags)
        except AsyncExpError as exc:
            logger.error('Not tracking user "%s" for event "%s": %s', user_id, event_key, exc)
            return
        logger.info('Tracking event "%s" for user "%s".', event_key, user_id)

    # -- features -----------------------------------------------------------
    def _feature(
        self, api: str, feature_key: object, user_id: object, attributes: object
    ) -> tuple[ProjectConfig, FeatureFlag, str, dict[str, Any]] | None:
        if not _key_ok(feature_key):
            logger.error('Provided "feature_key" is in an invalid format.')
            return None
        if not isinstance(user_id, str):
            logger.error('Provided "user_id" is in an invalid format.')
            return None
        if not _attributes_ok(attributes):
            logger.error("Provided attributes are in an invalid format.")
            return None
        config = self._config(api)
        if config is None:
            return None
        assert isinstance(feature_key, str)
        flag = config.flags.get(feature_key)
        if flag is None:
            logger.error('Feature "%s" is not in datafile.', feature_key)
            return None
        return config, flag, user_id, _attrs(attributes)

    def _decide_feature(
        self,
        config: ProjectConfig,
        flag: FeatureFlag,
        user_id: str,
        attributes: dict[str, Any],
    ) -> FlagResult:
        """The flag decision of the pre-decide API: no user-context forced decisions,
        forced variations of running experiment rules as rule-level ones."""
        forced: dict[DecisionContext, ForcedDecision] = {}
        mapped = self._forced.get(user_id)
        if mapped:
            for rule in flag.experiments:
                variation_id = mapped.get(rule.id)
                if variation_id is None or not rule.is_running:
                    continue
                if rule.id in config.local_holdouts:
                    # The reference checks the rule's local holdouts before this map.
                    view = UserView(user_id, attributes, None, {})
                    if local_holdout(config, rule, view, bucketing_id_for(view), None):
                        continue
                variation = rule.variations_by_id.get(variation_id)
                if variation is not None:
                    forced[DecisionContext(flag.key, rule.key)] = ForcedDecision(variation.key)
        profile = self._profile(user_id)
        result = evaluate_flag(
            config, flag, UserView(user_id, attributes, None, forced), profile, None
        )
        self._save(profile)
        return result

    def _send_feature_impressions(
        self,
        config: ProjectConfig,
        flag: FeatureFlag,
        result: FlagResult,
        user_id: str,
        attributes: dict[str, Any],
        given: object,
    ) -> None:
        # As the reference's is_feature_enabled: an experiment decision with a variation,
        # and (with sendFlagDecisions) a delivery or empty one; never a holdout's.
        sends: list[tuple[Rule | None, Variation | None, str]] = []
        source, variation = result.source, result.variation
        if source == DecisionSource.FEATURE_TEST and variation is not None:
            sends.append((result.rule, variation, source.value))
        elif (source == DecisionSource.ROLLOUT or variation is None) and config.send_flag_decisions:
            sends.append((result.rule, variation, DecisionSource.ROLLOUT.value))
        for rule, variation, rule_type in sends:
            event = rule_impression(
                config,
                user_id=user_id,
                attributes=attributes,
                flag_key=flag.key,
                rule=rule,
                variation=variation,
                rule_type=rule_type,
                enabled=bool(variation.feature_enabled) if variation is not None else False,
                uuid=self._new_id(),
                timestamp=round(self._clock() * 1000),
            )
            self._submit(event, rule, variation, given)

    @staticmethod
    def _source(result: FlagResult, *, holdout_info: bool) -> tuple[str, dict[str, Any]]:
        """The DECISION ``source`` and ``source_info`` of a feature decision: the rule and
        variation keys for an experiment rule (and, for the variable getters, a holdout)."""
        rule, variation = result.rule, result.variation
        if variation is None:
            return DecisionSource.ROLLOUT.value, {}
        source = result.source
        informed = source == DecisionSource.FEATURE_TEST or (
            holdout_info and source == DecisionSource.HOLDOUT
        )
        if informed and rule is not None:
            return source.value, {"experiment_key": rule.key, "variation_key": variation.key}
        return source.value, {}

    def _is_enabled(
        self,
        config: ProjectConfig,
        flag: FeatureFlag,
        user_id: str,
        attributes: dict[str, Any],
        given: object,
    ) -> bool:
        result = self._decide_feature(config, flag, user_id, attributes)
        variation = result.variation
        enabled = bool(variation is not None and variation.feature_enabled)
        self._send_feature_impressions(config, flag, result, user_id, attributes, given)
        source, source_info = self._source(result, holdout_info=False)
        info = {
            "feature_key": flag.key,
            "feature_enabled": enabled,
            "source": source,
            "source_info": source_info,
        }
        self._decision_notification("feature", user_id, attributes, info)
        if enabled:
            logger.info('Feature "%s" is enabled for user "%s".', flag.key, user_id)
        else:
            logger.info('Feature "%s" is not enabled for user "%s".', flag.key, user_id)
        return enabled

    def is_feature_enabled(
        self, feature_key: str, user_id: str, attributes: dict[str, Any] | None = None
    ) -> bool:
        """Whether the flag is on for the user (sends the decision's impression); False
        for an unknown flag or bad input (logged)."""
        found = self._feature("is_feature_enabled", feature_key, user_id, attributes)
        if found is None:
            return False
        return self._is_enabled(*found, attributes)

    def get_enabled_features(
        self, user_id: str, attributes: dict[str, Any] | None = None
    ) -> list[str]:
        """The keys of the flags on for the user, in datafile order; [] on bad input."""
        if not isinstance(user_id, str):
            logger.error('Provided "user_id" is in an invalid format.')
            return []
        if not _attributes_ok(attributes):
            logger.error("Provided attributes are in an invalid format.")
            return []
        config = self._config("get_enabled_features")
        if config is None:
            return []
        attrs = _attrs(attributes)
        return [
            key
            for key, flag in config.flags.items()
            if self._is_enabled(config, flag, user_id, attrs, attributes)
        ]

    def _variable(
        self,
        api: str,
        feature_key: object,
        variable_key: object,
        user_id: object,
        attributes: object,
        wanted: str | None,
    ) -> Any:
        if not _key_ok(feature_key):
            logger.error('Provided "feature_key" is in an invalid format.')
            return None
        if not _key_ok(variable_key):
            logger.error('Provided "variable_key" is in an invalid format.')
            return None
        found = self._feature(api, feature_key, user_id, attributes)
        if found is None:
            return None
        config, flag, uid, attrs = found
        definition: VariableDef | None = next(
            (v for v in flag.variables if v.key == variable_key), None
        )
        if definition is None:
            logger.error('Variable with key "%s" not found in the datafile.', variable_key)
            return None
        if wanted is not None and definition.type != wanted:
            logger.warning(
                'Requested variable type "%s", but variable is of type "%s". '
                "Use correct API to retrieve value. Returning None.",
                wanted,
                definition.type,
            )
            return None
        result = self._decide_feature(config, flag, uid, attrs)
        variation = result.variation
        enabled = bool(variation is not None and variation.feature_enabled)
        value = flag.values_for(variation).get(definition.key)
        source, source_info = self._source(result, holdout_info=True)
        info = {
            "feature_key": flag.key,
            "feature_enabled": enabled,
            "source": source,
            "variable_key": definition.key,
            "variable_value": value,
            "variable_type": definition.type,
            "source_info": source_info,
        }
        self._decision_notification("feature-variable", uid, attrs, info)
        return value

    def get_feature_variable(
        self,
        feature_key: str,
        variable_key: str,
        user_id: str,
        attributes: dict[str, Any] | None = None,
    ) -> Any:
        """The variable's value for the user (its type's Python value), or None."""
        return self._variable(
            "get_feature_variable", feature_key, variable_key, user_id, attributes, None
        )

    def get_feature_variable_boolean(
        self,
        feature_key: str,
        variable_key: str,
        user_id: str,
        attributes: dict[str, Any] | None = None,
    ) -> bool | None:
        """A ``boolean`` variable, or None (another type, bad input: logged)."""
        value: bool | None = self._variable(
            "get_feature_variable_boolean",
            feature_key,
            variable_key,
            user_id,
            attributes,
            "boolean",
        )
        return value

    def get_feature_variable_double(
        self,
        feature_key: str,
        variable_key: str,
        user_id: str,
        attributes: dict[str, Any] | None = None,
    ) -> float | None:
        """A ``double`` variable, or None (another type, bad input: logged)."""
        value: float | None = self._variable(
            "get_feature_variable_double", feature_key, variable_key, user_id, attributes, "double"
        )
        return value

    def get_feature_variable_integer(
        self,
        feature_key: str,
        variable_key: str,
        user_id: str,
        attributes: dict[str, Any] | None = None,
    ) -> int | None:
        """An ``integer`` variable, or None (another type, bad input: logged)."""
        value: int | None = self._variable(
            "get_feature_variable_integer",
            feature_key,
            variable_key,
            user_id,
            attributes,
            "integer",
        )
        return value

    def get_feature_variable_string(
        self,
        feature_key: str,
        variable_key: str,
        user_id: str,
        attributes: dict[str, Any] | None = None,
    ) -> str | None:
        """A ``string`` variable, or None (another type, bad input: logged)."""
        value: str | None = self._variable(
            "get_feature_variable_string", feature_key, variable_key, user_id, attributes, "string"
        )
        return value

    def get_feature_variable_json(
        self,
        feature_key: str,
        variable_key: str,
        user_id: str,
        attributes: dict[str, Any] | None = None,
    ) -> Any:
        """A ``json`` variable (also ``string`` with ``subType: json``), decoded, or None."""
        return self._variable(
            "get_feature_variable_json", feature_key, variable_key, user_id, attributes, "json"
        )

    def get_all_feature_variables(
        self, feature_key: str, user_id: str, attributes: dict[str, Any] | None = None
    ) -> dict[str, Any] | None:
        """Every variable of the flag for the user, by key; None on bad input."""
        found = self._feature("get_all_feature_variables", feature_key, user_id, attributes)
        if found is None:
            return None
        config, flag, uid, attrs = found
        result = self._decide_feature(config, flag, uid, attrs)
        variation = result.variation
        values = flag.values_for(variation)
        source, source_info = self._source(result, holdout_info=False)
        info = {
            "feature_key": flag.key,
            "feature_enabled": bool(variation is not None and variation.feature_enabled),
            "variable_values": values,
            "source": source,
            "source_info": source_info,
        }
        self._decision_notification("all-feature-variables", uid, attrs, info)
        return values

    # -- decide API and config ----------------------------------------------
    def create_user_context(
        self, user_id: str, attributes: dict[str, Any] | None = None
    ) -> UserContext | None:
        """A user context for ``decide``; None (logged) for a non-str ``user_id`` or
        attributes that are not a dict, or after close."""
        if not isinstance(user_id, str):
            logger.error('Provided "user_id" is in an invalid format.')
            return None
        if attributes is not None and type(attributes) is not dict:
            logger.error("Provided attributes are in an invalid format.")
            return None
        if not self.is_valid:
            logger.error('Optimizely instance is not valid. Failing "create_user_context".')
            return None
        return self.client.create_user_context(user_id, attributes)

    def get_optimizely_config(self) -> ProjectConfigView | None:
        """The project-config view of the current datafile, or None before one."""
        if self._config("get_optimizely_config") is None:
            return None
        return self.client.get_config()

    def send_odp_event(
        self,
        action: str,
        identifiers: dict[str, str],
        type: str = "fullstack",
        data: dict[str, Any] | None = None,
    ) -> None:
        """Queue an ODP event (the reference's argument order); invalid input is logged."""
        try:
            self.client.send_odp_event(action, type, identifiers, data)
        except AsyncExpError as exc:
            logger.error("ODP event not sent: %s", exc)


OptimizelyCompat = Optimizely
"""The same class under a name that does not shadow the reference's."""
