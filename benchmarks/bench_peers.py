"""The peer SDKs of bench_decide.py: one neutral flag set, written out for each SDK.

``peer_flags(n)`` is a list of n flags: even positions are 50/50 A/B tests behind
the audience ``country == "US" AND age >= 18 AND plan in ("basic", "pro",
"enterprise")`` (users outside it get no variation), odd positions are 30 %
rollouts to everyone. Each SDK gets the same flags in its own format:

* asyncexp and optimizely-sdk: one datafile from ``asyncexp.testing.DatafileBuilder``
  (Optimizely has no list operator, so ``plan in (...)`` is an OR of exact matches);
* GrowthBook (``growthbook``): features with an experiment rule (the condition,
  weights 0.5/0.5, coverage 1) or a force rule with coverage 0.3; one sync
  ``GrowthBook`` instance per user, as its docs do per request; no tracking callback;
* LaunchDarkly (``launchdarkly-server-sdk``): flags in its JSON flag model (a rule of
  three clauses with a 50/50 rollout, or a 30 % fallthrough rollout) put into its
  in-memory store by a data source that never connects, the way its ``TestData``
  source does (TestData's builder has neither ``>=`` nor percentage rollouts);
  ``send_events=False``, so no event processor and no diagnostics;
* Eppo (``eppo-server-sdk``): a flags configuration (allocations with rules and
  shard ranges) given as ``Configuration(flags_configuration=...)``, polling off,
  ``doLog`` false on every allocation and a logger that does nothing.

Values compared across SDKs: the A/B flags give ``"control"``, ``"treatment"`` or
``"off"`` (outside the audience), the rollouts ``True``/``False``.

``refuse_network()`` makes every Python socket refuse any host but loopback and
records the attempts; Eppo's Rust core does not use Python sockets, so its
``base_url`` is a loopback listener that nothing answers, and
``EppoPeer.connections()`` tells whether the core ever connected to it.
"""

from __future__ import annotations

import ipaddress
import json
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib import metadata
from typing import Any, Protocol

from asyncexp.testing import DatafileBuilder

__all__ = [
    "AB_PLANS",
    "PEERS",
    "PEER_SETUP",
    "Peer",
    "PeerFlag",
    "in_audience",
    "load_peer",
    "optimizely_datafile",
    "peer_flags",
    "refuse_network",
    "sdk_version",
]

AB_PLANS = ("basic", "pro", "enterprise")
ROLLOUT_PERCENT = 30
# Peer name → (distribution, module to import)
PEERS = {
    "growthbook": ("growthbook", "growthbook"),
    "launchdarkly": ("launchdarkly-server-sdk", "ldclient"),
    "eppo": ("eppo-server-sdk", "eppo_client"),
}

# How each peer runs here, printed with every result
PEER_SETUP = {
    "growthbook": "one sync GrowthBook per user, features in memory, no tracking callback",
    "launchdarkly": "LDClient on an in-memory data source (TestData's way), send_events=False",
    "eppo": "init with an in-memory Configuration, polling off, doLog false, a no-op logger",
}

Users = Sequence[tuple[str, dict[str, Any]]]
Runner = Callable[[], None]


@dataclass(frozen=True)
class PeerFlag:
    key: str
    kind: str  # "ab" or "rollout"


def peer_flags(n: int) -> list[PeerFlag]:
    return [
        PeerFlag(f"ab_{i:04d}", "ab") if i % 2 == 0 else PeerFlag(f"rollout_{i:04d}", "rollout")
        for i in range(n)
    ]


def in_audience(attrs: dict[str, Any]) -> bool:
    """The A/B audience, computed directly (what every SDK must agree with)."""
    return attrs.get("country") == "US" and attrs.get("age", 0) >= 18 and attrs["plan"] in AB_PLANS


def sdk_version(distribution: str) -> str | None:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None


# -- asyncexp and optimizely-sdk ----------------------------------------------


def optimizely_datafile(flags: Sequence[PeerFlag]) -> str:
    builder = DatafileBuilder(revision="1")

    def leaf(name: str, match: str, value: Any) -> dict[str, Any]:
        return {"type": "custom_attribute", "name": name, "match": match, "value": value}

    audience = builder.audience(
        "peer_audience",
        [
            "and",
            leaf("country", "exact", "US"),
            leaf("age", "ge", 18),
            ["or", *(leaf("plan", "exact", plan) for plan in AB_PLANS)],
        ],
    )
    for flag in flags:
        fb = builder.flag(flag.key)
        if flag.kind == "ab":
            fb.variation("control").variation("treatment")
            fb.experiment(
                f"{flag.key}_test", split={"control": 1, "treatment": 1}, audiences=[audience]
            )
        else:
            fb.variation("off", enabled=False).variation("on")
            fb.rollout_rule(f"{flag.key}_rollout", "on", percent=ROLLOUT_PERCENT)
    return builder.to_json()


# -- the peers ----------------------------------------------------------------


class Peer(Protocol):
    """One peer SDK on one flag set: per-user contexts, timed runners, plain values.

    ``decide_runner(key, contexts)`` decides ``key`` once for each context;
    ``all_runner(contexts)`` evaluates every flag once for each context, with
    ``all_call`` naming how (the SDK's all-flags call, or a loop of single calls).
    """

    name: str
    all_call: str

    def contexts(self, users: Users) -> list[Any]: ...

    def decide_runner(self, key: str, contexts: list[Any]) -> Runner: ...

    def all_runner(self, contexts: list[Any]) -> Runner: ...

    def value(self, context: Any, key: str) -> object: ...

    def close(self) -> None: ...


def _gb_feature(flag: PeerFlag) -> dict[str, Any]:
    if flag.kind == "ab":
        rule = {
            "key": flag.key,
            "seed": flag.key,
            "hashAttribute": "id",
            "hashVersion": 2,
            "condition": {
                "country": "US",
                "age": {"$gte": 18},
                "plan": {"$in": list(AB_PLANS)},
            },
            "variations": ["control", "treatment"],
            "weights": [0.5, 0.5],
            "coverage": 1.0,
        }
        return {"defaultValue": "off", "rules": [rule]}
    rollout = {
        "force": True,
        "coverage": ROLLOUT_PERCENT / 100,
        "hashAttribute": "id",
        "hashVersion": 2,
        "seed": flag.key,
    }
    return {"defaultValue": False, "rules": [rollout]}


class GrowthBookPeer:
    name = "growthbook"
    all_call = "a loop of eval_feature (no all-features call)"

    def __init__(self, flags: Sequence[PeerFlag]) -> None:
        from growthbook import GrowthBook

        self._cls = GrowthBook
        self._keys = [f.key for f in flags]
        # Parsed once and shared, so 10,000 per-user instances do not re-parse them.
        self._features = GrowthBook(features={f.key: _gb_feature(f) for f in flags}).get_features()

    def contexts(self, users: Users) -> list[Any]:
        return [self._cls(attributes={"id": uid, **a}, features=self._features) for uid, a in users]

    def decide_runner(self, key: str, contexts: list[Any]) -> Runner:
        def run() -> None:
            for gb in contexts:
                gb.eval_feature(key)

        return run

    def all_runner(self, contexts: list[Any]) -> Runner:
        keys = self._keys

        def run() -> None:
            for gb in contexts:
                for key in keys:
                    gb.eval_feature(key)

        return run

    def value(self, context: Any, key: str) -> object:
        return context.eval_feature(key).value

    def close(self) -> None:
        return None  # per-user instances hold no thread, socket or timer


def _ld_flag(flag: PeerFlag) -> dict[str, Any]:
    base: dict[str, Any] = {
        "key": flag.key,
        "version": 1,
        "on": True,
        "salt": flag.key,
        "targets": [],
        "contextTargets": [],
        "prerequisites": [],
        "rules": [],
    }
    if flag.kind == "ab":
        clauses = [
            {"attribute": "country", "op": "in", "values": ["US"], "negate": False},
            {"attribute": "age", "op": "greaterThanOrEqual", "values": [18], "negate": False},
            {"attribute": "plan", "op": "in", "values": list(AB_PLANS), "negate": False},
        ]
        split = [{"variation": 0, "weight": 50_000}, {"variation": 1, "weight": 50_000}]
        base.update(
            variations=["control", "treatment", "off"],
            offVariation=2,
            fallthrough={"variation": 2},
            rules=[{"id": f"{flag.key}-r0", "clauses": clauses, "rollout": {"variations": split}}],
        )
    else:
        # weights are in thousandths of a percent (100,000 = 100 %)
        on = ROLLOUT_PERCENT * 1000
        split = [{"variation": 0, "weight": on}, {"variation": 1, "weight": 100_000 - on}]
        base.update(
            variations=[True, False], offVariation=1, fallthrough={"rollout": {"variations": split}}
        )
    return base


class LaunchDarklyPeer:
    name = "launchdarkly"
    all_call = "all_flags_state"

    def __init__(self, flags: Sequence[PeerFlag]) -> None:
        import ldclient
        from ldclient import Context
        from ldclient.config import Config
        from ldclient.interfaces import UpdateProcessor
        from ldclient.versioned_data_kind import FEATURES, SEGMENTS

        data = {FEATURES: {f.key: _ld_flag(f) for f in flags}, SEGMENTS: {}}

        class InMemorySource(UpdateProcessor):  # type: ignore[misc]
            """Fills the store once at start; no connection, no thread."""

            def __init__(self, store: Any, ready: Any) -> None:
                self._store, self._ready = store, ready

            def start(self) -> None:
                self._store.init(data)
                self._ready.set()

            def stop(self) -> None:
                return None

            def initialized(self) -> bool:
                return True

        config = Config(
            sdk_key="bench-offline",
            update_processor_class=lambda _cfg, store, ready: InMemorySource(store, ready),
            send_events=False,
        )
        self._client = ldclient.LDClient(config=config)
        self._context = Context
        self._defaults = {f.key: ("off" if f.kind == "ab" else False) for f in flags}

    def contexts(self, users: Users) -> list[Any]:
        out = []
        for uid, attrs in users:
            builder = self._context.builder(uid)
            for name, v in attrs.items():
                builder.set(name, v)
            out.append(builder.build())
        return out

    def decide_runner(self, key: str, contexts: list[Any]) -> Runner:
        variation, default = self._client.variation, self._defaults[key]

        def run() -> None:
            for ctx in contexts:
                variation(key, ctx, default)

        return run

    def all_runner(self, contexts: list[Any]) -> Runner:
        all_flags = self._client.all_flags_state

        def run() -> None:
            for ctx in contexts:
                all_flags(ctx)

        return run

    def value(self, context: Any, key: str) -> object:
        return self._client.variation(key, context, self._defaults[key])

    def close(self) -> None:
        self._client.close()


def _eppo_flag(flag: PeerFlag) -> dict[str, Any]:
    salt = f"{flag.key}-split"

    def split(variation: str, start: int, end: int) -> dict[str, Any]:
        shard = {"salt": salt, "ranges": [{"start": start, "end": end}]}
        return {"variationKey": variation, "shards": [shard]}

    if flag.kind == "ab":
        conditions = [
            {"attribute": "country", "operator": "ONE_OF", "value": ["US"]},
            {"attribute": "age", "operator": "GTE", "value": 18},
            {"attribute": "plan", "operator": "ONE_OF", "value": list(AB_PLANS)},
        ]
        allocation = {
            "key": f"{flag.key}-test",
            "doLog": False,
            "rules": [{"conditions": conditions}],
            "splits": [split("control", 0, 5000), split("treatment", 5000, 10_000)],
        }
        variations = {k: {"key": k, "value": k} for k in ("control", "treatment")}
        return {
            "key": flag.key,
            "enabled": True,
            "variationType": "STRING",
            "totalShards": 10_000,
            "variations": variations,
            "allocations": [allocation],
        }
    rollout = {
        "key": f"{flag.key}-rollout",
        "doLog": False,
        "splits": [split("on", 0, ROLLOUT_PERCENT * 100)],
    }
    rest = {
        "key": f"{flag.key}-rest",
        "doLog": False,
        "splits": [{"variationKey": "off", "shards": []}],
    }
    return {
        "key": flag.key,
        "enabled": True,
        "variationType": "BOOLEAN",
        "totalShards": 10_000,
        "variations": {"on": {"key": "on", "value": True}, "off": {"key": "off", "value": False}},
        "allocations": [rollout, rest],
    }


class EppoPeer:
    name = "eppo"
    all_call = "a loop of get_*_assignment (no all-flags call)"

    def __init__(self, flags: Sequence[PeerFlag]) -> None:
        import eppo_client
        from eppo_client import AssignmentLogger, ClientConfig, Configuration

        class NoLogger(AssignmentLogger):  # type: ignore[misc]
            def log_assignment(self, event: dict[str, Any]) -> None:
                return None

            def log_bandit_action(self, event: dict[str, Any]) -> None:
                return None

        ufc = {
            "createdAt": "2026-01-01T00:00:00.000Z",
            "format": "SERVER",
            "environment": {"name": "bench"},
            "flags": {f.key: _eppo_flag(f) for f in flags},
        }
        # Nothing listens behind this port's backlog: a connection attempt by the
        # core would stay there, and connections() would count it.
        self._listener = socket.create_server(("127.0.0.1", 0))
        port = self._listener.getsockname()[1]
        config = ClientConfig(
            api_key="bench-offline",
            base_url=f"http://127.0.0.1:{port}/api",
            assignment_logger=NoLogger(),
            poll_interval_seconds=None,
            initial_configuration=Configuration(flags_configuration=json.dumps(ufc).encode()),
        )
        self._client = eppo_client.init(config)
        client = self._client
        self._getters: dict[str, tuple[Callable[..., Any], object]] = {
            f.key: (
                (client.get_string_assignment, "off")
                if f.kind == "ab"
                else (client.get_boolean_assignment, False)
            )
            for f in flags
        }
        self._keys = [f.key for f in flags]

    def contexts(self, users: Users) -> list[Any]:
        return list(users)

    def decide_runner(self, key: str, contexts: list[Any]) -> Runner:
        get, default = self._getters[key]

        def run() -> None:
            for uid, attrs in contexts:
                get(key, uid, attrs, default)

        return run

    def all_runner(self, contexts: list[Any]) -> Runner:
        plan = [(key, *self._getters[key]) for key in self._keys]

        def run() -> None:
            for uid, attrs in contexts:
                for key, get, default in plan:
                    get(key, uid, attrs, default)

        return run

    def value(self, context: Any, key: str) -> object:
        get, default = self._getters[key]
        return get(key, context[0], context[1], default)

    def connections(self) -> int:
        """Connections the core made to its base_url (0 when it stayed offline)."""
        self._listener.setblocking(False)
        count = 0
        while True:
            try:
                conn, _ = self._listener.accept()
            except BlockingIOError:
                return count
            conn.close()
            count += 1

    def close(self) -> None:
        self._client.shutdown()
        self._listener.close()


_CLASSES: dict[str, Callable[[Sequence[PeerFlag]], Peer]] = {
    "growthbook": GrowthBookPeer,
    "launchdarkly": LaunchDarklyPeer,
    "eppo": EppoPeer,
}


def load_peer(name: str, flags: Sequence[PeerFlag]) -> Peer:
    return _CLASSES[name](flags)


# -- no network ---------------------------------------------------------------


def _loopback(host: object) -> bool:
    if host in ("localhost", None):
        return True
    try:
        return ipaddress.ip_address(str(host).split("%")[0]).is_loopback
    except ValueError:
        return False


def refuse_network() -> list[str]:
    """Make Python sockets refuse every host but loopback; returns the list of refused
    attempts, which grows as they happen (each an ``"dns host"``/``"connect addr"`` text)."""
    attempts: list[str] = []
    real_getaddrinfo = socket.getaddrinfo
    real_connect = socket.socket.connect
    real_connect_ex = socket.socket.connect_ex

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        if not _loopback(host):
            attempts.append(f"dns {host}")
            raise OSError(f"bench_decide: no network ({host})")
        return real_getaddrinfo(host, *args, **kwargs)

    def check(address: Any) -> None:
        host = address[0] if isinstance(address, tuple) else None
        if isinstance(address, tuple) and not _loopback(host):
            attempts.append(f"connect {host}")
            raise OSError(f"bench_decide: no network ({host})")

    def connect(self: socket.socket, address: Any) -> None:
        check(address)
        real_connect(self, address)

    def connect_ex(self: socket.socket, address: Any) -> int:
        check(address)
        return real_connect_ex(self, address)

    socket.getaddrinfo = getaddrinfo  # type: ignore[assignment]
    socket.socket.connect = connect  # type: ignore[method-assign]
    socket.socket.connect_ex = connect_ex  # type: ignore[method-assign]
    return attempts
