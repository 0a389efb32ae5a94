"""asyncexp vs optimizely-sdk 5.7.0 and the peers (GrowthBook, LaunchDarkly, Eppo): decisions.

Every SDK runs in this one process on the same generated users, at its library
defaults, with decision events off and no network (see bench_peers.py for the
flags each peer gets and how each stays offline). Each figure is the median of
interleaved rounds; the ratio is peer time / asyncexp time (higher is better for
asyncexp).

    python benchmarks/bench_decide.py [--users N] [--rounds R] [--peers all|none|a,b]
                                      [--datafile PATH]

Cases: decide on the 50-flag example datafile (asyncexp, optimizely); decide on
one 50/50 A/B flag behind a 3-condition audience and on one 30 % rollout (all);
decide_all per flag on 50 and 1,000 flags (all; on the example datafile and on
it copied 20 times: asyncexp, optimizely); create_user_context and construction
(asyncexp, optimizely); the import of each SDK in a fresh interpreter (all).
Equivalence checks (untimed, over every user): asyncexp and optimizely agree
per user on the A/B and rollout flags and on decide_all of the example datafile;
every SDK puts exactly the users of the audience into the A/B test; the shares.
A human table, then a JSON summary (the last thing printed).
"""

from __future__ import annotations

import argparse
import gc
import json
import logging
import os
import random
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench_peers import (
    PEER_SETUP,
    PEERS,
    EppoPeer,
    Peer,
    in_audience,
    load_peer,
    optimizely_datafile,
    peer_flags,
    refuse_network,
    sdk_version,
)

# Installed before any SDK is imported, so nothing can open a socket to the outside.
NETWORK_ATTEMPTS = refuse_network()

from optimizely import optimizely  # noqa: E402
from optimizely.decision.optimizely_decide_option import OptimizelyDecideOption  # noqa: E402

from asyncexp.client import Client  # noqa: E402
from asyncexp.core.flags.decision_types import DecideOption  # noqa: E402
from asyncexp.examples_data import example_datafile  # noqa: E402

SDKS = ("asyncexp", "optimizely", "growthbook", "launchdarkly", "eppo")
DISTRIBUTIONS = {"asyncexp": "asyncexp", "optimizely": "optimizely-sdk"} | {
    name: dist for name, (dist, _module) in PEERS.items()
}
# What a service imports to get a client, per SDK (bare `import asyncexp` is its own row).
IMPORTS = {
    "asyncexp": "from asyncexp import Client",
    "optimizely": "from optimizely import optimizely",
    "growthbook": "from growthbook import GrowthBook",
    "launchdarkly": "from ldclient import LDClient",
    "eppo": "import eppo_client",
}
SETUP = {
    "asyncexp": "Client(datafile=...), DISABLE_DECISION_EVENT",
    "optimizely": "Optimizely(datafile=...), DISABLE_DECISION_EVENT",
}
AB_KEY, ROLLOUT_KEY = "ab_0000", "rollout_0001"
BIG = 1000
Runner = Callable[[], None]


def make_users(n: int, seed: int = 7) -> list[tuple[str, dict[str, Any]]]:
    rng = random.Random(seed)
    users = []
    for i in range(n):
        attrs: dict[str, Any] = {
            "country": rng.choice(["US", "DE", "FR", "GB", "BR", "IN", "CA", "JP"]),
            "age": rng.randint(13, 80),
            "plan": rng.choice(["free", "basic", "pro", "enterprise"]),
            "device": rng.choice(["ios", "android", "web", "desktop"]),
            "is_beta": rng.random() < 0.2,
            "purchases": rng.randint(0, 12),
            "ltv": round(rng.uniform(0, 400), 2),
            "signup_days": rng.randint(0, 1000),
            "language": rng.choice(["en-US", "de-DE", "fr-FR", "pt-BR", "ja-JP", "es-ES"]),
        }
        if rng.random() < 0.7:
            attrs["app_version"] = f"{rng.randint(1, 4)}.{rng.randint(0, 12)}.{rng.randint(0, 5)}"
        if rng.random() < 0.5:
            attrs["email"] = f"user{i}@" + rng.choice(
                ["example.com", "yahoo.com", "corp.example.org"]
            )
        users.append((f"user-{i}", attrs))
    return users


def replicate_datafile(text: str, copies: int) -> str:
    """The datafile with its flags, experiments, rollouts and groups copied ``copies``
    times; copy c > 0 suffixes every entity id and flag/rule key with ``c<c>``.
    Audiences, attributes and events are shared (events keep the first copy's ids)."""
    data = json.loads(text)
    sections = ("featureFlags", "experiments", "rollouts", "groups")
    ids: set[str] = set()

    def collect(node: Any) -> None:
        if isinstance(node, dict):
            for name, value in node.items():
                if name in ("id", "layerId", "rolloutId") and isinstance(value, str):
                    ids.add(value)
                collect(value)
        elif isinstance(node, list):
            for child in node:
                collect(child)

    for section in sections:
        collect(data.get(section, []))

    def rename(node: Any, suffix: str, in_keyed: bool) -> Any:
        if isinstance(node, dict):
            out = {}
            for name, value in node.items():
                if name in ("id", "layerId", "rolloutId", "entityId") and value in ids:
                    out[name] = value + suffix
                elif name == "experimentIds":
                    out[name] = [v + suffix for v in value]
                elif name == "key" and in_keyed:
                    out[name] = value + suffix
                elif name in ("experiments", "featureFlags"):
                    out[name] = [rename(v, suffix, True) for v in value]
                else:
                    out[name] = rename(value, suffix, False)
            return out
        if isinstance(node, list):
            return [rename(v, suffix, in_keyed) for v in node]
        return node

    originals = {section: data.get(section, []) for section in sections}
    for c in range(1, copies):
        for section in sections:
            copied = rename({section: originals[section]}, f"c{c}", False)[section]
            data[section] = data[section] + copied
    return json.dumps(data)


def load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} {five:.2f} {fifteen:.2f}"


@dataclass
class Case:
    key: str
    label: str
    unit: str = "µs"  # per call, or per flag for decide_all
    runners: dict[str, tuple[Runner, int]] = field(default_factory=dict)  # sdk → (run, calls)
    results: dict[str, float] = field(default_factory=dict)
    notes: dict[str, str] = field(default_factory=dict)


def measure(cases: Sequence[Case], rounds: int) -> None:
    """Interleaved rounds: each round runs every (case, SDK) once, in a rotated order."""
    plan = [(case, sdk) for case in cases for sdk in case.runners]
    for case, sdk in plan:  # warm-up: first-call costs stay out of the timed rounds
        case.runners[sdk][0]()
    samples: dict[tuple[str, str], list[float]] = {(c.key, s): [] for c, s in plan}
    for r in range(rounds):
        shift = r % len(plan)
        for case, sdk in plan[shift:] + plan[:shift]:
            run, calls = case.runners[sdk]
            gc.collect()
            start = time.perf_counter()
            run()
            samples[case.key, sdk].append((time.perf_counter() - start) / calls * 1e6)
    for case, sdk in plan:
        case.results[sdk] = statistics.median(samples[case.key, sdk])


def import_times(sdks: Sequence[str], runs: int) -> dict[str, float]:
    """Median ms of each SDK's import in a fresh interpreter, runs interleaved."""
    statements = {sdk: IMPORTS[sdk] for sdk in sdks} | {"asyncexp (bare)": "import asyncexp"}
    samples: dict[str, list[float]] = {name: [] for name in statements}
    for _ in range(runs):
        for name, statement in statements.items():
            code = (
                f"import time; t = time.perf_counter(); {statement}; print(time.perf_counter() - t)"
            )
            done = subprocess.run(
                [sys.executable, "-c", code], capture_output=True, text=True, check=True
            )
            samples[name].append(float(done.stdout.strip()) * 1e3)
    return {name: statistics.median(values) for name, values in samples.items()}


def over(contexts: Sequence[Any], fn: Callable[[Any], object]) -> Runner:
    def run() -> None:
        for ctx in contexts:
            fn(ctx)

    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    # Default: the packaged 50-flag benchmark datafile (the example `make demo` uses).
    parser.add_argument("--datafile", type=Path, default=None)
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument(
        "--peers", default="all", help="comma list of " + ",".join(PEERS) + ", or all, or none"
    )
    args = parser.parse_args()
    logging.disable(logging.CRITICAL)
    wanted = (
        list(PEERS)
        if args.peers == "all"
        else []
        if args.peers == "none"
        else [p.strip() for p in args.peers.split(",") if p.strip()]
    )
    unknown = [p for p in wanted if p not in PEERS]
    if unknown:
        parser.error(f"unknown peers {unknown}; choose from {', '.join(PEERS)}")
    versions = {sdk: sdk_version(DISTRIBUTIONS[sdk]) for sdk in SDKS}
    peers = [p for p in PEERS if p in wanted and versions[p] is not None]
    skipped = {p: "not asked for (--peers)" for p in PEERS if p not in wanted}
    for p in wanted:
        if versions[p] is None:
            skipped[p] = f"{DISTRIBUTIONS[p]} is not installed (pip install -e '.[bench]')"
    load_start = load()

    text = args.datafile.read_text(encoding="utf-8") if args.datafile else example_datafile()
    users = make_users(args.users)
    n_all = max(4, args.users // 100)  # users for decide_all on 50 flags
    n_big = max(2, args.users // 1000)  # users for decide_all on 1,000 flags
    no_event = [DecideOption.DISABLE_DECISION_EVENT]
    ref_no_event = [OptimizelyDecideOption.DISABLE_DECISION_EVENT]

    # -- the example datafile: asyncexp and optimizely only ------------------
    ours = Client(datafile=text)
    ref = optimizely.Optimizely(datafile=text)
    flag_keys = list(ours.config.flags) if ours.config else []
    ours_ctx = [ours.create_user_context(uid, a) for uid, a in users]
    ref_ctx = [ref.create_user_context(uid, a) for uid, a in users]
    pairs_ours = [(c, flag_keys[i % len(flag_keys)]) for i, c in enumerate(ours_ctx)]
    pairs_ref = [(c, flag_keys[i % len(flag_keys)]) for i, c in enumerate(ref_ctx)]
    big_text = replicate_datafile(text, BIG // max(1, len(flag_keys)))
    ours_big = Client(datafile=big_text)
    ref_big = optimizely.Optimizely(datafile=big_text)
    big_flags = len(ours_big.config.flags) if ours_big.config else 0
    ours_big_ctx = [ours_big.create_user_context(uid, a) for uid, a in users[:n_big]]
    ref_big_ctx = [ref_big.create_user_context(uid, a) for uid, a in users[:n_big]]

    example = os.path.basename(args.datafile) if args.datafile else "example datafile"
    cases: list[Case] = []
    c = Case("decide_example", f"decide, {example} ({len(flag_keys)} flags), no event")
    c.runners["asyncexp"] = (over(pairs_ours, lambda p: p[0].decide(p[1], no_event)), len(users))
    c.runners["optimizely"] = (
        over(pairs_ref, lambda p: p[0].decide(p[1], ref_no_event)),
        len(users),
    )
    cases.append(c)

    # -- the peer flag sets: every SDK ----------------------------------------
    small, big = peer_flags(50), peer_flags(BIG)
    clients: dict[str, dict[int, Any]] = {"asyncexp": {}, "optimizely": {}}
    peer_objs: dict[str, dict[int, Peer]] = {}
    for flags in (small, big):
        datafile = optimizely_datafile(flags)
        clients["asyncexp"][len(flags)] = Client(datafile=datafile)
        clients["optimizely"][len(flags)] = optimizely.Optimizely(datafile=datafile)
        for p in peers:
            peer_objs.setdefault(p, {})[len(flags)] = load_peer(p, flags)
    active = ["asyncexp", "optimizely", *peers]

    def ctxs(sdk: str, n_flags: int, some: Sequence[tuple[str, dict[str, Any]]]) -> list[Any]:
        if sdk in clients:
            client = clients[sdk][n_flags]
            return [client.create_user_context(uid, a) for uid, a in some]
        return peer_objs[sdk][n_flags].contexts(some)

    peer_ctx = {sdk: ctxs(sdk, 50, users) for sdk in active}

    def decide_runner(sdk: str, key: str) -> Runner:
        if sdk == "asyncexp":
            return over(peer_ctx[sdk], lambda u: u.decide(key, no_event))
        if sdk == "optimizely":
            return over(peer_ctx[sdk], lambda u: u.decide(key, ref_no_event))
        return peer_objs[sdk][50].decide_runner(key, peer_ctx[sdk])

    for key, what in ((AB_KEY, "decide_ab"), (ROLLOUT_KEY, "decide_rollout")):
        label = (
            "decide, one 50/50 A/B flag, 3-condition audience"
            if key == AB_KEY
            else "decide, one 30 % rollout"
        )
        c = Case(what, label)
        for sdk in active:
            c.runners[sdk] = (decide_runner(sdk, key), len(users))
        cases.append(c)

    c = Case(
        "decide_all_example", f"decide_all per flag, {example} ({len(flag_keys)} flags)", "µs/flag"
    )
    some_ours, some_ref = ours_ctx[:n_all], ref_ctx[:n_all]
    c.runners["asyncexp"] = (
        over(some_ours, lambda u: u.decide_all(no_event)),
        n_all * len(flag_keys),
    )
    c.runners["optimizely"] = (
        over(some_ref, lambda u: u.decide_all(ref_no_event)),
        n_all * len(flag_keys),
    )
    cases.append(c)
    c = Case(
        "decide_all_example_1000",
        f"decide_all per flag, {example} x20 ({big_flags} flags)",
        "µs/flag",
    )
    c.runners["asyncexp"] = (
        over(ours_big_ctx, lambda u: u.decide_all(no_event)),
        n_big * big_flags,
    )
    c.runners["optimizely"] = (
        over(ref_big_ctx, lambda u: u.decide_all(ref_no_event)),
        n_big * big_flags,
    )
    cases.append(c)

    for n_flags, n_users in ((50, n_all), (BIG, n_big)):
        c = Case(f"decide_all_{n_flags}", f"decide_all per flag, {n_flags} peer flags", "µs/flag")
        for sdk in active:
            some = ctxs(sdk, n_flags, users[:n_users])
            if sdk == "asyncexp":
                run = over(some, lambda u: u.decide_all(no_event))
            elif sdk == "optimizely":
                run = over(some, lambda u: u.decide_all(ref_no_event))
            else:
                peer = peer_objs[sdk][n_flags]
                run = peer.all_runner(some)
                c.notes[sdk] = peer.all_call
            c.runners[sdk] = (run, n_users * n_flags)
        cases.append(c)

    c = Case("create_user_context", "create_user_context")
    c.runners["asyncexp"] = (over(users, lambda u: ours.create_user_context(*u)), len(users))
    c.runners["optimizely"] = (over(users, lambda u: ref.create_user_context(*u)), len(users))
    cases.append(c)

    def ref_construct(_: object) -> None:
        optimizely.Optimizely(datafile=text).close()

    c = Case("construction_example", f"construction, {example}")
    c.runners["asyncexp"] = (over(range(10), lambda _: Client(datafile=text)), 10)
    c.runners["optimizely"] = (over(range(5), ref_construct), 5)
    cases.append(c)

    checks = equivalence(
        users, peer_ctx, peer_objs, ours_ctx[:n_all], ref_ctx[:n_all], no_event, ref_no_event
    )

    measure(cases, args.rounds)
    imports = import_times(active, args.rounds)
    load_end = load()
    eppo_connections = sum(
        obj.connections() for obj in peer_objs.get("eppo", {}).values() if isinstance(obj, EppoPeer)
    )
    for by_size in peer_objs.values():
        for obj in by_size.values():
            obj.close()
    for by_size in clients["optimizely"].values():
        by_size.close()
    ref.close()
    ref_big.close()

    report(args, versions, active, skipped, cases, imports, checks, load_start, load_end)
    summary = {
        "users": args.users,
        "rounds": args.rounds,
        "load": {"start": load_start, "end": load_end},
        "versions": {sdk: versions[sdk] for sdk in SDKS},
        "sdks": active,
        "skipped": skipped,
        "cases": {
            case.key: {
                "label": case.label,
                "unit": case.unit,
                "us": case.results,
                "ratio": ratios(case.results),
                "notes": case.notes,
            }
            for case in cases
        },
        "scaling_1000_vs_50": scaling(cases),
        "import_ms": imports,
        "import_statements": {sdk: IMPORTS[sdk] for sdk in active}
        | {"asyncexp (bare)": "import asyncexp"},
        "checks": checks,
        "network": {"refused": NETWORK_ATTEMPTS, "eppo_base_url_connections": eppo_connections},
    }
    print("\n" + json.dumps(summary, indent=1, ensure_ascii=False))


def ratios(results: dict[str, float]) -> dict[str, float]:
    base = results.get("asyncexp")
    if not base:
        return {}
    return {sdk: round(us / base, 2) for sdk, us in results.items() if sdk != "asyncexp"}


def scaling(cases: Sequence[Case]) -> dict[str, dict[str, float]]:
    by_key = {c.key: c.results for c in cases}
    out: dict[str, dict[str, float]] = {}
    for name, small, large in (
        ("peer flags", "decide_all_50", f"decide_all_{BIG}"),
        ("example datafile", "decide_all_example", "decide_all_example_1000"),
    ):
        out[name] = {
            sdk: round(by_key[large][sdk] / by_key[small][sdk], 2)
            for sdk in by_key[large]
            if sdk in by_key[small]
        }
    return out


def equivalence(
    users: Sequence[tuple[str, dict[str, Any]]],
    peer_ctx: dict[str, list[Any]],
    peer_objs: dict[str, dict[int, Peer]],
    ours_some: Sequence[Any],
    ref_some: Sequence[Any],
    no_event: list[DecideOption],
    ref_no_event: list[str],
) -> dict[str, Any]:
    """Untimed: what each SDK decided for every user, reduced to comparable figures."""
    values: dict[str, dict[str, list[object]]] = {AB_KEY: {}, ROLLOUT_KEY: {}}
    pairs: dict[str, dict[str, list[tuple[object, bool]]]] = {AB_KEY: {}, ROLLOUT_KEY: {}}
    for key in (AB_KEY, ROLLOUT_KEY):
        for sdk, contexts in peer_ctx.items():
            if sdk in ("asyncexp", "optimizely"):
                opts = no_event if sdk == "asyncexp" else ref_no_event
                decisions = [u.decide(key, opts) for u in contexts]
                pairs[key][sdk] = [(d.variation_key, d.enabled) for d in decisions]
                if key == AB_KEY:
                    values[key][sdk] = [d.variation_key or "off" for d in decisions]
                else:
                    values[key][sdk] = [d.enabled for d in decisions]
            else:
                peer = peer_objs[sdk][50]
                values[key][sdk] = [peer.value(u, key) for u in contexts]
    expected = sum(in_audience(a) for _, a in users)
    ab: dict[str, Any] = {
        "in_audience_expected": expected,
        "in_audience": {},
        "treatment_share": {},
    }
    for sdk, vals in values[AB_KEY].items():
        inside = [v for v in vals if v != "off"]
        ab["in_audience"][sdk] = len(inside)
        ab["treatment_share"][sdk] = round(inside.count("treatment") / max(1, len(inside)), 4)
        if any(v not in ("control", "treatment", "off") for v in vals):
            ab.setdefault("unexpected_values", []).append(sdk)
    # The audience is deterministic: each SDK must let in exactly these users.
    truth = [in_audience(a) for _, a in users]
    ab["audience_mismatches"] = {
        sdk: sum((v != "off") != t for v, t in zip(vals, truth, strict=True))
        for sdk, vals in values[AB_KEY].items()
    }
    rollout = {
        "on_share": {
            sdk: round(sum(v is True for v in vals) / max(1, len(vals)), 4)
            for sdk, vals in values[ROLLOUT_KEY].items()
        }
    }
    for key, out in ((AB_KEY, ab), (ROLLOUT_KEY, rollout)):
        ours, theirs = pairs[key]["asyncexp"], pairs[key]["optimizely"]
        out["asyncexp_vs_optimizely_mismatches"] = sum(
            a != b for a, b in zip(ours, theirs, strict=True)
        )
        out["users"] = len(ours)
    # decide_all on the example datafile: the same variation and enabled per flag
    example_mismatches = 0
    for mine, other in zip(ours_some, ref_some, strict=True):
        a = {k: (d.variation_key, d.enabled) for k, d in mine.decide_all(no_event).items()}
        b = {k: (d.variation_key, d.enabled) for k, d in other.decide_all(ref_no_event).items()}
        example_mismatches += sum(a.get(k) != b.get(k) for k in a.keys() | b.keys())
    return {
        AB_KEY: ab,
        ROLLOUT_KEY: rollout,
        "decide_all_example": {
            "users": len(ours_some),
            "asyncexp_vs_optimizely_mismatches": example_mismatches,
        },
    }


def report(
    args: argparse.Namespace,
    versions: dict[str, str | None],
    active: Sequence[str],
    skipped: dict[str, str],
    cases: Sequence[Case],
    imports: dict[str, float],
    checks: dict[str, Any],
    load_start: str,
    load_end: str,
) -> None:
    print(
        f"users: {args.users}, rounds: {args.rounds} (medians of interleaved rounds); "
        f"load average {load_start} at start, {load_end} at end; {os.cpu_count()} cores"
    )
    print("versions: " + ", ".join(f"{sdk} {versions[sdk]}" for sdk in active))
    for sdk, why in skipped.items():
        print(f"skipped: {sdk}: {why}")
    for sdk in active:
        print(f"  {sdk}: {SETUP.get(sdk) or PEER_SETUP[sdk]}")
    width = 18

    def cell(sdk: str, value: float | None, base: float | None, digits: int = 2) -> str:
        if value is None:
            return f"{'—':>{width}}"
        text = f"{value:.{digits}f}"
        if base and sdk != "asyncexp":
            ratio = value / base
            text += f" ({ratio:.2f}x)" if ratio < 1 else f" ({ratio:.1f}x)"
        return f"{text:>{width}}"

    print(f"\n{'operation':<54}" + "".join(f"{sdk:>{width}}" for sdk in active))
    print(f"{'':<54}" + "".join(f"{'µs (÷ asyncexp)':>{width}}" for _ in active))
    for case in cases:
        base = case.results.get("asyncexp")
        cells = "".join(cell(sdk, case.results.get(sdk), base) for sdk in active)
        print(f"{case.label:<54}{cells}")
    cells = "".join(cell(sdk, imports[sdk], imports["asyncexp"], 0) for sdk in active)
    print(f"{'import, fresh interpreter [ms]':<54}{cells}")
    print(f"  bare 'import asyncexp': {imports['asyncexp (bare)']:.0f} ms")
    for case in cases:
        for sdk, note in case.notes.items():
            print(f"  {case.label}: {sdk} runs {note}")
    for name, values in scaling(cases).items():
        growth = ", ".join(f"{sdk} x{r:.2f}" for sdk, r in values.items())
        print(f"  per flag, 1,000 vs 50 flags ({name}): {growth}")
    ab, rollout = checks[AB_KEY], checks[ROLLOUT_KEY]
    print(
        f"\nchecks over {ab['users']} users: A/B audience {ab['in_audience_expected']} users, "
        f"let in: {ab['in_audience']}; not the audience's users: {ab['audience_mismatches']}"
    )
    print(f"  A/B treatment share: {ab['treatment_share']}")
    print(f"  rollout 'on' share: {rollout['on_share']}")
    print(
        "  asyncexp vs optimizely, per user: A/B "
        f"{ab['asyncexp_vs_optimizely_mismatches']} differ, rollout "
        f"{rollout['asyncexp_vs_optimizely_mismatches']} differ, decide_all of the example "
        f"datafile ({checks['decide_all_example']['users']} users) "
        f"{checks['decide_all_example']['asyncexp_vs_optimizely_mismatches']} differ"
    )


if __name__ == "__main__":
    main()
