"""CMAB (contextual multi-armed bandit) answers for the decide flow.

A CMAB rule's variation comes from a prediction service. A decision never waits,
so the answers are obtained first and the flag is then decided synchronously:

* ``decide_async`` (and the ``_for_keys`` / ``_all`` variants) run the decide flow
  without side effects to find the CMAB rules it reaches, ask
  :meth:`CmabResolver.resolve` for each (the cache, else the prediction service),
  and decide with those answers (:class:`AnswerSource`);
* a plain ``decide`` reads the cache only (:class:`CachedSource`): a valid entry is
  used ("CMAB cache hit ..."); otherwise the flag is the reference's error decision.

The cache is the reference's: LRU of 10,000 entries, 30-minute TTL, key
``"{len(user_id)}-{user_id}-{rule_id}"``, value (md5 of the JSON of the rule's
attributes sorted by key, variation id, cmab uuid); an entry whose attributes hash
differs is dropped and fetched again. The three options act as the reference's:
``IGNORE_CMAB_CACHE`` fetches without reading or writing the cache,
``RESET_CMAB_CACHE`` empties it, ``INVALIDATE_USER_CMAB_CACHE`` drops this user's
entry for the rule. Concurrent resolves for the same user, rule and attributes
share one request (the reference serialises them behind a lock and the later ones
hit the cache, so they get the "cache hit" reason here too).

The prediction request itself is a :class:`CmabPredictor` the client passes in
(:class:`asyncexp.aio.cmab.HttpCmabPredictor`), so this wing has no runtime edge to
the shell.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from asyncexp.core.flags.decision_types import CmabAnswer, DecideOption, UserView
from asyncexp.errors import DeliveryError

if TYPE_CHECKING:
    from asyncexp.core.flags.datafile import ProjectConfig
    from asyncexp.core.flags.entities import Rule

__all__ = [
    "DEFAULT_CMAB_CACHE_SIZE",
    "DEFAULT_CMAB_CACHE_TTL",
    "AnswerSource",
    "CachedSource",
    "CmabCache",
    "CmabPredictor",
    "CmabResolver",
    "cmab_attributes",
]

logger = logging.getLogger("asyncexp.cmab")

DEFAULT_CMAB_CACHE_SIZE = 10_000
DEFAULT_CMAB_CACHE_TTL = 30 * 60.0  # seconds

_IGNORE = DecideOption.IGNORE_CMAB_CACHE
_RESET = DecideOption.RESET_CMAB_CACHE
_INVALIDATE = DecideOption.INVALIDATE_USER_CMAB_CACHE


class CmabPredictor(Protocol):
    """One prediction: the variation id for ``user_id`` on rule ``rule_id``; raises
    (``DeliveryError``, or anything else: it is logged) when the service gives no
    usable answer after its retries."""

    async def predict(
        self, rule_id: str, user_id: str, attributes: Mapping[str, Any], cmab_uuid: str
    ) -> str: ...


@dataclass(frozen=True, slots=True)
class _Entry:
    attributes_hash: str
    variation_id: str
    cmab_uuid: str
    saved_at: float


class CmabCache:
    """The reference's LRU cache with a TTL (``ttl`` seconds; 0 or less: no expiry)."""

    def __init__(
        self,
        *,
        capacity: int = DEFAULT_CMAB_CACHE_SIZE,
        ttl: float = DEFAULT_CMAB_CACHE_TTL,
        clock: Callable[[], float],
    ) -> None:
        self._capacity = capacity
        self._ttl = ttl
        self._clock = clock
        self._entries: OrderedDict[str, _Entry] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def lookup(self, key: str) -> _Entry | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        if self._ttl > 0 and self._clock() - entry.saved_at >= self._ttl:
            del self._entries[key]
            return None
        self._entries.move_to_end(key)
        return entry

    def save(self, key: str, attributes_hash: str, variation_id: str, cmab_uuid: str) -> None:
        if self._capacity <= 0:
            return
        self._entries[key] = _Entry(attributes_hash, variation_id, cmab_uuid, self._clock())
        self._entries.move_to_end(key)
        while len(self._entries) > self._capacity:
            self._entries.popitem(last=False)

    def remove(self, key: str) -> None:
        self._entries.pop(key, None)

    def reset(self) -> None:
        self._entries.clear()


def cache_key(user_id: str, rule_id: str) -> str:
    return f"{len(user_id)}-{user_id}-{rule_id}"


def cmab_attributes(config: ProjectConfig, rule: Rule, user: UserView) -> dict[str, Any]:
    """The user's attributes the rule's ``cmab.attributeIds`` name, keyed by attribute id
    (optimizely-sdk 5.6+), in ``attributeIds`` order."""
    ids = (rule.cmab or {}).get("attributeIds")
    if not isinstance(ids, list) or not ids:
        return {}
    key_of = {a.id: a.key for a in config.attributes}
    out: dict[str, Any] = {}
    for attribute_id in ids:
        key = key_of.get(attribute_id) if isinstance(attribute_id, str) else None
        if key is not None and key in user.attributes:
            out[attribute_id] = user.attributes[key]
    return out


def attributes_hash(attributes: Mapping[str, Any]) -> str:
    text = json.dumps(attributes, sort_keys=True, default=str)
    return hashlib.md5(text.encode("utf-8", "surrogatepass"), usedforsecurity=False).hexdigest()


def _hit(user_id: str, rule_id: str) -> str:
    return f"CMAB cache hit for user '{user_id}' and rule '{rule_id}'"


class CmabResolver:
    """The cache plus the prediction service (see the module docstring)."""

    def __init__(
        self,
        predictor: CmabPredictor | None,
        *,
        clock: Callable[[], float],
        id_factory: Callable[[], str],
        cache: CmabCache | None = None,
    ) -> None:
        self.predictor = predictor
        self.cache = cache if cache is not None else CmabCache(clock=clock)
        self._new_id = id_factory
        self._in_flight: dict[tuple[str, str], asyncio.Task[tuple[str, str]]] = {}
        self.requests = 0  # predictions asked of the service (coalesced ones count once)

    # -- the plain decide: the cache only ------------------------------------------------
    def cached(self, config: ProjectConfig, rule: Rule, user: UserView) -> CmabAnswer | None:
        key = cache_key(user.user_id, rule.id)
        entry = self.cache.lookup(key)
        if entry is None:
            return None
        if entry.attributes_hash != attributes_hash(cmab_attributes(config, rule, user)):
            return None
        reason = _hit(user.user_id, rule.id)
        return CmabAnswer(entry.variation_id, entry.cmab_uuid, (reason,))

    # -- decide_async: the cache, else the service ---------------------------------------
    async def resolve(
        self, config: ProjectConfig, rule: Rule, user: UserView, options: Iterable[str]
    ) -> CmabAnswer:
        """The answer for ``rule`` and ``user`` under ``options`` (never raises for a
        service failure: the answer is ``failed``)."""
        opts = frozenset(options)
        uid, rid = user.user_id, rule.id
        attributes = cmab_attributes(config, rule, user)
        reasons: list[str] = []
        if _IGNORE in opts:
            reasons.append(f"Ignoring CMAB cache for user '{uid}' and rule '{rid}'")
            try:
                variation_id, cmab_uuid = await self._fetch(rid, uid, attributes)
            except Exception as exc:  # any failure of the service is the error decision
                return self._failed(rule, uid, exc)
            return CmabAnswer(variation_id, cmab_uuid, tuple(reasons))
        key = cache_key(uid, rid)
        digest = attributes_hash(attributes)
        if _RESET in opts:
            reasons.append(f"Resetting CMAB cache for user '{uid}' and rule '{rid}'")
            self.cache.reset()
        if _INVALIDATE in opts:
            reasons.append(f"Invalidating CMAB cache for user '{uid}' and rule '{rid}'")
            self.cache.remove(key)
        running = self._in_flight.get((key, digest))
        if running is not None:
            # The reference serialises this call behind the first one's lock and then
            # hits the cache it filled.
            try:
                variation_id, cmab_uuid = await asyncio.shield(running)
            except Exception as exc:  # any failure of the service is the error decision
                return self._failed(rule, uid, exc)
            reasons.append(_hit(uid, rid))
            return CmabAnswer(variation_id, cmab_uuid, tuple(reasons))
        entry = self.cache.lookup(key)
        if entry is not None and entry.attributes_hash == digest:
            reasons.append(_hit(uid, rid))
            return CmabAnswer(entry.variation_id, entry.cmab_uuid, tuple(reasons))
        if entry is not None:
            reasons.append(
                f"CMAB cache attributes mismatch for user '{uid}' and rule '{rid}', "
                "fetching new decision."
            )
            self.cache.remove(key)
        else:
            reasons.append(f"CMAB cache miss for user '{uid}' and rule '{rid}'")
        task = asyncio.ensure_future(self._fetch_and_save(key, digest, rid, uid, attributes))
        self._in_flight[(key, digest)] = task
        task.add_done_callback(lambda t: self._settled(t, (key, digest)))
        try:
            variation_id, cmab_uuid = await asyncio.shield(task)
        except Exception as exc:  # any failure of the service is the error decision
            return self._failed(rule, uid, exc)
        reasons.append(
            f"CMAB decision is { ({'variation_id': variation_id, 'cmab_uuid': cmab_uuid}) }"
        )
        return CmabAnswer(variation_id, cmab_uuid, tuple(reasons))

    def _settled(self, task: asyncio.Task[tuple[str, str]], slot: tuple[str, str]) -> None:
        self._in_flight.pop(slot, None)
        if not task.cancelled():
            task.exception()  # retrieved even when every waiter was cancelled

    async def _fetch_and_save(
        self, key: str, digest: str, rule_id: str, user_id: str, attributes: dict[str, Any]
    ) -> tuple[str, str]:
        variation_id, cmab_uuid = await self._fetch(rule_id, user_id, attributes)
        self.cache.save(key, digest, variation_id, cmab_uuid)
        return variation_id, cmab_uuid

    async def _fetch(
        self, rule_id: str, user_id: str, attributes: dict[str, Any]
    ) -> tuple[str, str]:
        if self.predictor is None:
            raise DeliveryError("no CMAB prediction service is configured")
        cmab_uuid = self._new_id()
        self.requests += 1
        variation_id = await self.predictor.predict(rule_id, user_id, attributes, cmab_uuid)
        return variation_id, cmab_uuid

    @staticmethod
    def _failed(rule: Rule, user_id: str, exc: Exception) -> CmabAnswer:
        logger.error(
            "Failed to fetch CMAB data for experiment %s (user %r): %s", rule.key, user_id, exc
        )
        return CmabAnswer(None, None, (), failed=True)


class AnswerSource:
    """The answers one ``decide_async`` call resolved, by rule id (nothing else)."""

    __slots__ = ("answers",)

    def __init__(self, answers: Mapping[str, CmabAnswer]) -> None:
        self.answers = answers

    def answer(self, rule: Rule, user: UserView) -> CmabAnswer | None:
        return self.answers.get(rule.id)


class CachedSource:
    """A plain ``decide``'s answers: valid cache entries, read once per rule per call."""

    __slots__ = ("_config", "_memo", "_resolver")

    def __init__(self, resolver: CmabResolver, config: ProjectConfig) -> None:
        self._resolver = resolver
        self._config = config
        self._memo: dict[str, CmabAnswer | None] = {}

    def answer(self, rule: Rule, user: UserView) -> CmabAnswer | None:
        if rule.id not in self._memo:
            self._memo[rule.id] = self._resolver.cached(self._config, rule, user)
        return self._memo[rule.id]
