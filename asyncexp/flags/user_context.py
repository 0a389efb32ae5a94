"""``UserContext``: one user's attributes, forced decisions and segments.

Every method here is a plain call that never awaits (except ``load_profile`` and the
``decide*_async`` variants, which await the profile store or the CMAB prediction
service and then decide synchronously): decisions run on the
caller's stack in a few microseconds, and events are handed to the collector's
non-blocking ``submit``. Each decide call works on a snapshot, so a concurrent
``set_attribute`` from another task cannot change a decision half-way.

Rules: a context talks only to the public interface of the
:class:`~asyncexp.flags.decider.Decider` it was given (``decide``,
``decide_many``, ``track_event``) and to a
:class:`~asyncexp.flags.segment_source.SegmentSource` for segment fetches; it
checks its arguments here, before either is called.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from asyncexp.core.flags.decision_types import (
    DecideOption,
    DecisionContext,
    ForcedDecision,
    UserView,
)
from asyncexp.errors import ArgumentTypeError

if TYPE_CHECKING:
    import asyncio

    # Type-only circle (decider ↔ user_context ↔ decision): the runtime graph is acyclic.
    from asyncexp.flags.decider import Decider
    from asyncexp.flags.decision import Decision
    from asyncexp.flags.segment_source import FetchCallback, SegmentSource

__all__ = ["DecideOption", "DecisionContext", "ForcedDecision", "UserContext"]

logger = logging.getLogger("asyncexp.user_context")


def _check_attributes(attributes: object) -> dict[str, Any]:
    if attributes is None:
        return {}
    if not isinstance(attributes, Mapping):
        raise ArgumentTypeError(f"attributes must be a dict, not {type(attributes).__name__}")
    for key in attributes:
        if not isinstance(key, str):
            raise ArgumentTypeError(f"attribute keys must be str, not {type(key).__name__}")
    return dict(attributes)


def _check_options(options: object) -> None:
    if options is None or type(options) is list or type(options) is tuple:
        return
    if isinstance(options, str | bytes) or not isinstance(options, Iterable):
        raise ArgumentTypeError("options must be a list of DecideOption values")


class UserContext:
    """A user to decide flags for; create it with ``client.create_user_context``."""

    __slots__ = (
        "_attributes",
        "_decider",
        "_forced",
        "_frozen",
        "_profile",
        "_segment_source",
        "_segments",
        "_view_cache",
        "_visitor",
        "user_id",
    )

    def __init__(
        self,
        decider: Decider,
        segment_source: SegmentSource,
        user_id: str,
        attributes: Mapping[str, Any] | None = None,
    ) -> None:
        if not isinstance(user_id, str):
            raise ArgumentTypeError(f"user_id must be str, not {type(user_id).__name__}")
        self._decider = decider
        self._segment_source = segment_source
        self.user_id = user_id
        self._attributes: dict[str, Any] = _check_attributes(attributes)
        self._forced: dict[DecisionContext, ForcedDecision] = {}
        self._segments: list[str] | None = None
        # The sticky-bucketing profile loaded by load_profile (None: not loaded).
        self._profile: dict[str, dict[str, str]] | None = None
        # The snapshot decisions share until the next change (see ``_frozen_snapshot``).
        self._frozen: UserContext | None = None
        # On a snapshot only: its view and its visitor attributes (config, list).
        self._view_cache: UserView | None = None
        self._visitor: tuple[object, object, list[dict[str, Any]], bool] | None = None

    # -- attributes ---------------------------------------------------------
    def set_attribute(self, key: str, value: Any) -> None:
        if not isinstance(key, str):
            raise ArgumentTypeError(f"attribute key must be str, not {type(key).__name__}")
        self._attributes[key] = value
        self._frozen = None

    def get_user_attributes(self) -> dict[str, Any]:
        return dict(self._attributes)

    @property
    def attributes(self) -> dict[str, Any]:
        """A copy of the attributes."""
        return dict(self._attributes)

    # -- decisions ----------------------------------------------------------
    def decide(self, key: str, options: Iterable[str] | None = None) -> Decision:
        """Decide one flag. An unknown key gives a decision with a reason, not an error."""
        if not isinstance(key, str):
            raise ArgumentTypeError(f"flag key must be str, not {type(key).__name__}")
        if options is not None and type(options) is not list:  # the usual cases inline
            _check_options(options)
        return self._decider.decide(self, key, options)

    def decide_for_keys(
        self, keys: Iterable[str], options: Iterable[str] | None = None
    ) -> dict[str, Decision]:
        if isinstance(keys, str) or not isinstance(keys, Iterable):
            raise ArgumentTypeError("keys must be a list of flag keys")
        keys = list(keys)
        for key in keys:
            if not isinstance(key, str):
                raise ArgumentTypeError(f"flag keys must be str, not {type(key).__name__}")
        _check_options(options)
        return self._decider.decide_many(self, keys, options)

    def decide_all(self, options: Iterable[str] | None = None) -> dict[str, Decision]:
        """Decide every flag of the datafile, in datafile order."""
        _check_options(options)
        return self._decider.decide_many(self, None, options)

    # -- decisions with CMAB predictions --------------------------------------
    async def decide_async(self, key: str, options: Iterable[str] | None = None) -> Decision:
        """``decide``, after fetching the CMAB predictions the flag's evaluation reaches
        (cache first; concurrent fetches for the same user and rule are shared). Only
        the prediction service is awaited; the decision itself is the synchronous one.
        The CMAB cache options (``IGNORE_CMAB_CACHE``, ``RESET_CMAB_CACHE``,
        ``INVALIDATE_USER_CMAB_CACHE``) apply here."""
        if not isinstance(key, str):
            raise ArgumentTypeError(f"flag key must be str, not {type(key).__name__}")
        _check_options(options)
        opts = list(options) if options is not None else None
        answers = await self._decider.resolve_cmab(self, [key], opts)
        return self._decider.decide(self, key, opts, answers)

    async def decide_for_keys_async(
        self, keys: Iterable[str], options: Iterable[str] | None = None
    ) -> dict[str, Decision]:
        """``decide_for_keys`` with CMAB predictions fetched first (see ``decide_async``)."""
        if isinstance(keys, str) or not isinstance(keys, Iterable):
            raise ArgumentTypeError("keys must be a list of flag keys")
        keys = list(keys)
        for key in keys:
            if not isinstance(key, str):
                raise ArgumentTypeError(f"flag keys must be str, not {type(key).__name__}")
        _check_options(options)
        opts = list(options) if options is not None else None
        answers = await self._decider.resolve_cmab(self, keys, opts)
        return self._decider.decide_many(self, keys, opts, answers)

    async def decide_all_async(self, options: Iterable[str] | None = None) -> dict[str, Decision]:
        """``decide_all`` with CMAB predictions fetched first (see ``decide_async``)."""
        _check_options(options)
        opts = list(options) if options is not None else None
        answers = await self._decider.resolve_cmab(self, None, opts)
        return self._decider.decide_many(self, None, opts, answers)

    # -- sticky bucketing ---------------------------------------------------
    async def load_profile(self) -> bool:
        """Load this user's profile from the client's async profile store, so that the
        next decisions (plain calls) use it; False when no store is configured or the
        load failed (decisions then neither use nor save a profile)."""
        loader = self._decider.profile_loader
        if loader is None:
            return False
        found = await loader.load(self.user_id)
        if found is None:
            return False
        self._profile = found
        return True

    @property
    def profile_loaded(self) -> bool:
        return self._profile is not None

    # -- conversions --------------------------------------------------------
    def track_event(self, event_key: str, event_tags: Mapping[str, Any] | None = None) -> None:
        """Send a conversion for this user; an unknown event key is logged, not raised."""
        if not isinstance(event_key, str):
            raise ArgumentTypeError(f"event_key must be str, not {type(event_key).__name__}")
        if event_tags is not None:
            if not isinstance(event_tags, Mapping):
                raise ArgumentTypeError(
                    f"event_tags must be a dict, not {type(event_tags).__name__}"
                )
            for tag in event_tags:
                if not isinstance(tag, str):  # JSON object keys; caught here, not in a batch
                    raise ArgumentTypeError(
                        f"event_tags keys must be str, not {type(tag).__name__}"
                    )
        self._decider.track_event(self, event_key, event_tags)

    # -- forced decisions ---------------------------------------------------
    def set_forced_decision(self, context: DecisionContext, decision: ForcedDecision) -> bool:
        if not isinstance(context, DecisionContext):
            raise ArgumentTypeError("context must be a DecisionContext")
        if not isinstance(decision, ForcedDecision):
            raise ArgumentTypeError("decision must be a ForcedDecision")
        self._forced[context] = decision
        self._frozen = None
        return True

    def get_forced_decision(self, context: DecisionContext) -> ForcedDecision | None:
        if not isinstance(context, DecisionContext):
            raise ArgumentTypeError("context must be a DecisionContext")
        return self._forced.get(context)

    def remove_forced_decision(self, context: DecisionContext) -> bool:
        if not isinstance(context, DecisionContext):
            raise ArgumentTypeError("context must be a DecisionContext")
        self._frozen = None
        return self._forced.pop(context, None) is not None

    def remove_all_forced_decisions(self) -> bool:
        self._forced.clear()
        self._frozen = None
        return True

    # -- segments -----------------------------------------------------------
    def get_qualified_segments(self) -> list[str] | None:
        return list(self._segments) if self._segments is not None else None

    def set_qualified_segments(self, segments: Iterable[str] | None) -> None:
        self._frozen = None
        if segments is None:
            self._segments = None
            return
        if isinstance(segments, str) or not isinstance(segments, Iterable):
            raise ArgumentTypeError("segments must be a list of str or None")
        items = list(segments)
        for item in items:
            if not isinstance(item, str):
                raise ArgumentTypeError(f"segments must be str, not {type(item).__name__}")
        self._segments = items
        self._frozen = None

    def fetch_qualified_segments(
        self, callback: FetchCallback | None = None, options: Iterable[str] | None = None
    ) -> asyncio.Task[bool]:
        """Start fetching this user's segments; returns the task (``await`` it for the
        success flag). ``callback`` (plain or coroutine function) gets the flag when the
        fetch ends. On failure the previous segments stay; the client awaits the task
        at close, so it may be dropped."""
        return self._segment_source.start_fetch(
            self.user_id, self.set_qualified_segments, callback, options
        )

    def is_qualified_for(self, segment: str) -> bool:
        return self._segments is not None and segment in self._segments

    # -- snapshots ----------------------------------------------------------
    def as_dict(self) -> dict[str, Any]:
        return {"user_id": self.user_id, "attributes": dict(self._attributes)}

    def __repr__(self) -> str:
        return f"UserContext(user_id={self.user_id!r}, attributes={self._attributes!r})"

    def _snapshot(self) -> UserContext:
        """A private copy of this context as it is now (what ``Decision.user_context``
        gives: each decision its own, so changing one never shows in another)."""
        snap = UserContext.__new__(UserContext)
        snap._decider = self._decider
        snap._segment_source = self._segment_source
        snap.user_id = self.user_id
        snap._attributes = dict(self._attributes)
        snap._forced = dict(self._forced)
        snap._segments = list(self._segments) if self._segments is not None else None
        snap._profile = None  # the decider reads the context's own profile, not a copy
        snap._frozen = None
        snap._view_cache = None
        snap._visitor = None
        return snap

    def _frozen_snapshot(self) -> UserContext:
        """The snapshot the decide calls share until this context next changes: copied
        once per change, not once per decide. It is never handed out (a decision copies
        it again when its ``user_context`` is read) and never changed, so its view and
        visitor attributes are built once too."""
        snap = self._frozen
        if snap is None:
            snap = self._frozen = self._snapshot()
        return snap

    def _view(self) -> UserView:
        """The decide flow's view of a frozen snapshot, built once (a fresh one when a
        call sets its CMAB source)."""
        view = self._view_cache
        if view is None:
            segments = frozenset(self._segments) if self._segments is not None else None
            view = self._view_cache = UserView(
                self.user_id, self._attributes, segments, self._forced
            )
        return view
