"""Coverage-guided fuzzing of asyncexp's untrusted-input parsers (a dev tool, not a test).

    .venv/bin/pip install atheris          # optional: coverage-guided with libFuzzer
    .venv/bin/python benchmarks/fuzz_parsers.py datafile --seconds 180
    .venv/bin/python benchmarks/fuzz_parsers.py rules --seconds 180 --engine random

Targets and the exceptions their APIs document (anything else is a finding):

==========  ==================================================  ====================
target      input                                               allowed
==========  ==================================================  ====================
datafile    bytes to ``parse_datafile``; a parsed config is     ``ConfigError``
            then decided for every flag, with reasons (user
            ids with lone surrogates too), and its config view
            built; seeds include future extensions (unknown
            variable types, json object defaults, unknown keys)
rules       UTF-8 text to ``compile_rule``; a compiled rule is  ``RuleSyntaxError``
            evaluated with hostile contexts
conditions  JSON to ``compile_condition_tree``, evaluated       ``ConfigError``
run         JSON to ``parse_experiment_run``; a parsed run is     ``ConfigError``
            assigned hostile entity ids and contexts
track       bytes as Analysys ids and property values (lone     ``ValidationError``
            surrogates included) to ``track_record``
analysys    a ``/up`` response body to ``analysys_response_code``  none
graphql     a GraphQL body to ``parse_segments_response``       its ``_FetchError``
==========  ==================================================  ====================

Engines: ``atheris`` (when installed: libFuzzer's coverage feedback, plus a
JSON-aware custom mutator for the JSON targets) or ``random`` (a timed loop of
the same mutations without feedback). Each finding is printed once per distinct
(exception, place) and its input saved under ``--artifacts``; a summary with the
execution count is written to ``<artifacts>/<target>-summary.json`` as the run
goes (libFuzzer ends the process without running Python's exit handlers).
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import json
import logging
import math
import os
import random
import sys
import time
import traceback
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.append(str(ROOT))  # tests.datafiles for seeds (appended: asyncexp comes from the env)

# -- the targets -----------------------------------------------------------------------------

Target = Callable[[bytes], None]
_imported: dict[str, Any] = {}


def _load() -> None:
    """Import what the targets use (inside atheris.instrument_imports when fuzzing)."""
    if _imported:
        return
    from asyncexp.aio.collectors import wire
    from asyncexp.aio.odp import segments
    from asyncexp.client import Client
    from asyncexp.core.analytics import envelope, records
    from asyncexp.core.appconfig import assignment, rule_eval, run
    from asyncexp.core.flags import conditions, datafile
    from asyncexp.errors import ConfigError, RuleSyntaxError, ValidationError
    from asyncexp.testing import CapturingCollector

    _imported.update(
        analysys_response_code=wire.analysys_response_code,
        _FetchError=segments._FetchError,
        parse_segments_response=segments.parse_segments_response,
        Client=Client,
        parse_experiment_run=run.parse_experiment_run,
        compile_rule=rule_eval.compile_rule,
        compile_condition_tree=conditions.compile_condition_tree,
        parse_datafile=datafile.parse_datafile,
        ConfigError=ConfigError,
        RuleSyntaxError=RuleSyntaxError,
        ValidationError=ValidationError,
        assign=assignment.assign,
        track_record=records.track_record,
        RecordSettings=envelope.RecordSettings,
        CapturingCollector=CapturingCollector,
    )


CONTEXTS: list[dict[str, Any]] = [
    {},
    {"age": "9" * 5000, "country": 10**5000, "plan": ["pro"], "id": 2**64},
    {"age": math.nan, "country": "US", "plan": {"a": 1}, "ts": datetime(2024, 1, 1)},
    {"age": "65", "country": "TRUE", "ts": "2024-01-31T00:00:00Z", "d": date(2024, 1, 1)},
    {"age": 30, "version": "1.2.3-beta", "flag": True, "x": [[[]]], "tz": datetime.now(UTC)},
    # lone surrogates (json.loads of a request, a 0xFF header byte) and 4 KiB values
    {"id": "\ud800", "country": "x\udfff", "email": "ab" * 2048, "plan": ["\ud800"]},
]
USER_IDS = ["fuzz", "\ud800", "\udfff\ud800x", "é" * 300]


def _datafile(data: bytes) -> None:
    m = _imported
    try:
        config = m["parse_datafile"](data)
    except m["ConfigError"]:
        return
    client = m["Client"](collector=m["CapturingCollector"]())
    client._current.apply(config)
    for user_id, attributes in zip(USER_IDS * 2, CONTEXTS, strict=False):
        user = client.create_user_context(user_id, attributes)
        user.set_qualified_segments(["vip"])
        user.decide_all(["INCLUDE_REASONS"])
    for key in list(config.events)[:2]:
        user.track_event(key, {"revenue": 1})
    view = client.get_config()
    if view is not None:
        view.to_dict()


def _rules(data: bytes) -> None:
    m = _imported
    try:
        rule = m["compile_rule"](data.decode("utf-8", "replace"), default_seed="s")
    except m["RuleSyntaxError"]:
        return
    for context in CONTEXTS:
        if rule.evaluate(context) not in (True, False, None):
            raise AssertionError("a rule evaluated to something else than True/False/None")


def _conditions(data: bytes) -> None:
    m = _imported
    try:
        tree = json.loads(data)
    except (ValueError, RecursionError):
        return
    try:
        evaluate = m["compile_condition_tree"](tree, "conditions", [])
    except m["ConfigError"]:
        return
    for context in CONTEXTS:
        if evaluate(context, ["vip"]) not in (True, False, None):
            raise AssertionError("a condition evaluated to something else than True/False/None")


def _run(data: bytes) -> None:
    m = _imported
    try:
        doc = json.loads(data)
    except (ValueError, RecursionError):
        return
    try:
        run = m["parse_experiment_run"](doc)
    except m["ConfigError"]:
        return
    for entity, context in zip(USER_IDS, CONTEXTS, strict=False):
        m["assign"](run, entity, context)


_SETTINGS: list[Any] = []


def _track(data: bytes) -> None:
    m = _imported
    if not _SETTINGS:
        _SETTINGS.append(m["RecordSettings"](app_key="fuzz", reserved_keys=1))
    text = data.decode("utf-8", "surrogateescape")  # each invalid byte: a lone surrogate
    half = len(text) // 2
    props: dict[str, Any] = {"label": text[half:], "tags": [text[:half]], "$record_id": "x"}
    if data[:1] != b"r":
        props.pop("$record_id")
    try:
        m["track_record"](
            _SETTINGS[0], text[:half] or "id", "Fuzz", props, {}, None, False, None, 10**12, []
        )
    except m["ValidationError"]:
        return


def _analysys(data: bytes) -> None:
    code = _imported["analysys_response_code"](data)
    if code is not None and not isinstance(code, int):
        raise AssertionError(f"code {code!r}")


def _graphql(data: bytes) -> None:
    m = _imported
    try:
        m["parse_segments_response"](data)
    except m["_FetchError"]:
        return


TARGETS: dict[str, Target] = {
    "datafile": _datafile,
    "rules": _rules,
    "conditions": _conditions,
    "run": _run,
    "track": _track,
    "analysys": _analysys,
    "graphql": _graphql,
}
JSON_TARGETS = {"datafile", "conditions", "run", "graphql"}


# -- seeds -----------------------------------------------------------------------------------


def seeds(target: str) -> list[bytes]:
    if target == "datafile":
        from tests.datafiles import base_datafile, holdout

        doc = base_datafile()
        with_holdouts = base_datafile()
        with_holdouts["holdouts"] = [holdout("h1", "global", traffic=500)]
        with_holdouts["localHoldouts"] = [holdout("h2", "local", includedRules=["exp_checkout"])]
        with_holdouts["experiments"][0]["type"] = "fr"
        future = base_datafile()  # what a newer Optimizely may send: degrades, never refuses
        future["featureFlags"][0]["variables"] += [
            {"id": "9001", "key": "f", "type": "future_type", "defaultValue": "raw"},
            {"id": "9002", "key": "j", "type": "json", "defaultValue": {"a": [1]}},
        ]
        future["aFutureSection"] = {"x": 1}
        return [json.dumps(d).encode() for d in (doc, with_holdouts, future)]
    if target == "rules":
        return [
            rule.encode()
            for rule in (
                '(and (eq $country "US") (gte $age 18) (in $plan ["pro", "team"]))',
                '(or (begins_with $id "a") (not (exists key::"x")) (lt $ts 2024-01-31T00:00Z))',
                '(matches in::$email pattern::"^[a-z]+@example\\\\.com$")',
                '(split pct::33.3 by::$id seed::"s")',
                '(or (matches in::$email pattern::"((a|b)?){100}c") (matches $id "\\\\w+$"))',
                "(and (gt $score 1.5e3) (lte $n -7) (eq $flag true))",
            )
        ]
    if target == "conditions":
        leaf = {"type": "custom_attribute", "name": "age", "match": "ge", "value": 18}
        semver = {"type": "custom_attribute", "name": "version", "match": "semver_lt", "value": "2"}
        qualified = {
            "type": "third_party_dimension",
            "name": "odp",
            "match": "qualified",
            "value": "vip",
        }
        return [
            json.dumps(["and", leaf, ["or", semver, ["not", qualified]]]).encode(),
            json.dumps(
                [leaf, {"type": "custom_attribute", "name": "country", "value": "US"}]
            ).encode(),
        ]
    if target == "run":
        from tests.appconfig_samples import run_dict

        unknown = run_dict(TreatmentOverrides={"SDK_UNKNOWN_MEMBER": {"name": "S3Location"}})
        unknown["ExperimentDefinitionSnapshot"]["Control"]["FlagValue"]["AttributeValues"] = {
            "color": {"SDK_UNKNOWN_MEMBER": {"name": "MapValue"}},
            "size": {"NumberValue": 1},
        }
        return [json.dumps(r, default=str).encode() for r in (run_dict(), unknown)]
    if target == "track":
        return [b"user-1 plain", b"s\xed\xa0\x80 lone", b"r\xff\xfe bytes", "é€😀".encode()]
    if target == "analysys":
        from asyncexp.aio.collectors.wire import ANALYSYS_SUCCESS_BODY

        return [ANALYSYS_SUCCESS_BODY, b'{"code":200}', b'{"code":500}']
    edges = [{"node": {"name": "vip", "state": "qualified"}}]
    return [
        json.dumps({"data": {"customer": {"audiences": {"edges": edges}}}}).encode(),
        json.dumps({"errors": [{"extensions": {"classification": "X"}}]}).encode(),
    ]


# -- mutations (the random engine, and the JSON-aware custom mutator of atheris) -----------

TOKENS = [
    b"[",
    b"]",
    b"{",
    b"}",
    b'"',
    b"\\",
    b",",
    b":",
    b"null",
    b"true",
    b"NaN",
    b"1e999",
    b"-0",
    b"9" * 30,
    b"\xff",
    b"\xc3",
    b"\xed\xa0\x80",
    b"(",
    b")",
    b"$",
    b"::",
    b"[" * 100,
    b"(not " * 40,
]
JSON_VALUES: list[Any] = [
    None,
    True,
    0,
    -1,
    2**53 + 1,
    2**63,
    10**30,
    1e308,
    -0.0,
    "",
    "x",
    "9" * 50,
    "\u202e",
    [],
    {},
    [[]],
    {"a": {}},
    ["and"],
    ["not"],
    {"type": "custom_attribute", "name": "age", "match": "exact", "value": 1},
]


_JSON_TOKENS = [
    b"null",
    b"true",
    b"false",
    b"[]",
    b"{}",
    b'""',
    b"NaN",
    b"1e999",
    b"-0",
    b"\\u0000",
]
DICTIONARY: dict[str, list[bytes]] = {
    "rules": [
        *(op.encode() for op in ("and", "or", "not", "eq", "gt", "gte", "lt", "lte", "in")),
        *(op.encode() for op in ("begins_with", "ends_with", "contains", "matches", "exists")),
        *(op.encode() for op in ("split", "pct::", "by::", "seed::", "key::", "in::")),
        b"pattern::",
        b"$",
        b"::",
        b"true",
        b"false",
        b"\\u00e9",
        b"\\q",
        "\u00b2".encode(),  # superscript two: isdigit() but not a digit token
        "\u0663".encode(),  # arabic-indic three
        b"9" * 64,
        b"2024-01-31T00:00:00Z",
        b"1e308",
    ],
    "datafile": [
        *_JSON_TOKENS,
        *(
            f'"{key}"'.encode()
            for key in (
                "type",
                "match",
                "value",
                "name",
                "audienceConditions",
                "rolloutId",
                "experimentIds",
                "variations",
                "trafficAllocation",
                "fr",
                "qualified",
                "exact",
                "semver_lt",
                "future_type",
                "defaultValue",
                "json",
            )
        ),
    ],
    "conditions": [*_JSON_TOKENS, b'"and"', b'"or"', b'"not"', b'"semver_eq"', b'"exists"'],
    "run": [
        *_JSON_TOKENS,
        *(b'"Weight"', b'"StartedAt"', b'"ExposurePercentage"', b"1e400"),
        *(b'"SDK_UNKNOWN_MEMBER"', b'"Inline"', b'"AttributeValues"', b'"StringValue"'),
    ],
    "track": [b"\xed\xa0\x80", b"\xff", b"$record_id", "😀".encode()],
    "analysys": [b"H4sI", b'{"code":', b"200", b"=="],
    "graphql": [*_JSON_TOKENS, b'"errors"', b'"extensions"', b'"edges"', b'"node"'],
}


def mutate_bytes(data: bytes, rng: random.Random, corpus: list[bytes]) -> bytes:
    out = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        at = rng.randint(0, len(out))
        op = rng.randrange(6)
        if op == 0 and out and at < len(out):
            out[at] ^= 1 << rng.randrange(8)
        elif op == 1:
            out[at:at] = rng.choice(TOKENS)
        elif op == 2:
            del out[at : at + rng.randint(1, 16)]
        elif op == 3:
            end = min(len(out), at + rng.randint(1, 64))
            out[at:at] = out[at:end]
        elif op == 4 and corpus:
            other = rng.choice(corpus)
            start = rng.randint(0, len(other))
            out[at:at] = other[start : start + rng.randint(1, 64)]
        else:
            out[at:at] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 4)))
    return bytes(out)


def _containers(doc: Any) -> list[tuple[Any, Any]]:
    """(container, key) pairs for every value in ``doc``, iteratively."""
    out: list[tuple[Any, Any]] = []
    stack = [doc]
    while stack:
        node = stack.pop()
        items = node.items() if isinstance(node, dict) else enumerate(node)
        for key, value in items:
            out.append((node, key))
            if isinstance(value, dict | list):
                stack.append(value)
    return out


def mutate_json(doc: Any, rng: random.Random) -> Any:
    doc = copy.deepcopy(doc)
    if not isinstance(doc, dict | list):
        return rng.choice(JSON_VALUES)
    for _ in range(rng.randint(1, 3)):
        places = _containers(doc)
        if not places:
            break
        parent, key = rng.choice(places)
        value = parent[key]
        op = rng.randrange(8)
        if op == 0:
            del parent[key]
        elif op == 1:
            parent[key] = copy.deepcopy(rng.choice(JSON_VALUES))
        elif op == 2:
            parent[key] = [value]
        elif op == 3:
            nested: Any = value
            for _ in range(rng.choice([31, 33, 200, 1000])):
                nested = [nested] if rng.random() < 0.5 else {"a": nested}
            parent[key] = nested
        elif op == 4:
            parent[key] = str(value) if not isinstance(value, str) else [value]
        elif op == 5 and isinstance(parent, list):
            parent.insert(key, copy.deepcopy(value))
        elif op == 6 and isinstance(value, dict | list) and value:
            parent[key] = type(value)()
        else:
            parent[key] = rng.choice([None, "", 0, -(2**63) - 1, math.inf])
    return doc


def mutate(data: bytes, rng: random.Random, corpus: list[bytes], json_aware: bool) -> bytes:
    if json_aware and rng.random() < 0.7:
        try:
            doc = json.loads(data)
        except (ValueError, RecursionError):
            pass
        else:
            try:
                return json.dumps(mutate_json(doc, rng)).encode("utf-8", "surrogatepass")
            except (ValueError, RecursionError):
                pass
    return mutate_bytes(data, rng, corpus)


# -- findings ----------------------------------------------------------------------------------


class Findings:
    def __init__(self, target: str, artifacts: Path, engine: str) -> None:
        self.target = target
        self.artifacts = artifacts
        self.engine = engine
        self.seen: dict[str, dict[str, Any]] = {}
        self.executions = 0
        self.started = time.monotonic()
        artifacts.mkdir(parents=True, exist_ok=True)

    def record(self, data: bytes, exc: BaseException) -> None:
        frames = traceback.extract_tb(exc.__traceback__)
        ours = [f for f in frames if "/asyncexp/" in f.filename] or frames
        place = f"{Path(ours[-1].filename).name}:{ours[-1].lineno}" if ours else "?"
        signature = f"{type(exc).__name__} at {place}"
        if signature in self.seen:
            self.seen[signature]["count"] += 1
            return
        name = f"{self.target}-{hashlib.sha1(data).hexdigest()[:12]}.bin"
        (self.artifacts / name).write_bytes(data)
        self.seen[signature] = {
            "signature": signature,
            "message": str(exc)[:300],
            "input": str(self.artifacts / name),
            "input_preview": data[:200].decode("utf-8", "replace"),
            "first_at_execution": self.executions,
            "count": 1,
        }
        print(f"\n*** FINDING {signature}: {str(exc)[:200]}\n    input saved to {name}", flush=True)
        self.write()

    def write(self) -> None:
        summary = {
            "target": self.target,
            "engine": self.engine,
            "executions": self.executions,
            "seconds": round(time.monotonic() - self.started, 1),
            "findings": list(self.seen.values()),
        }
        path = self.artifacts / f"{self.target}-summary.json"
        path.write_text(json.dumps(summary, indent=1))


def run_one(target: Target, data: bytes, findings: Findings) -> None:
    findings.executions += 1
    try:
        target(data)
    except Exception as exc:  # the target already let the documented errors through
        findings.record(data, exc)
    if findings.executions % 2000 == 0:
        findings.write()


# -- engines -----------------------------------------------------------------------------------


def run_random(name: str, seconds: float, seed: int, findings: Findings) -> None:
    _load()
    target = TARGETS[name]
    rng = random.Random(seed)
    corpus = seeds(name)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        for _ in range(100):
            data = mutate(rng.choice(corpus), rng, corpus, name in JSON_TARGETS)
            run_one(target, data, findings)
            if len(corpus) < 500 and rng.random() < 0.01:
                corpus.append(data)  # no coverage signal: keep a few at random
    findings.write()


def _dict_entry(token: bytes) -> str:
    """A libFuzzer dictionary entry: printable ASCII as is, every other byte as \\xNN."""
    return "".join(chr(b) if 32 <= b < 127 and b not in b'"\\' else f"\\x{b:02x}" for b in token)


def run_atheris(name: str, seconds: float, seed: int, findings: Findings, extra: list[str]) -> None:
    import atheris

    with atheris.instrument_imports(include=["asyncexp"]):
        _load()
    target = TARGETS[name]
    corpus_dir = findings.artifacts / f"{name}-corpus"
    corpus_dir.mkdir(parents=True, exist_ok=True)
    for data in seeds(name):
        (corpus_dir / hashlib.sha1(data).hexdigest()).write_bytes(data)
    json_aware = name in JSON_TARGETS

    def one_input(data: bytes) -> None:
        run_one(target, data, findings)

    def custom_mutator(data: bytes, max_size: int, mutator_seed: int) -> bytes:
        rng = random.Random(mutator_seed)
        if json_aware and rng.random() < 0.5:
            out = mutate(data, rng, [], True)
        else:
            out = atheris.Mutate(data, max_size)
        return out[:max_size]

    # Rules may be up to 16 KiB long (the parser's limit); JSON inputs grow from their seeds.
    max_len = 16_400 if name == "rules" else max(len(d) for d in seeds(name)) * 4
    dictionary = findings.artifacts / f"{name}.dict"
    dictionary.write_text("".join(f'"{_dict_entry(token)}"\n' for token in DICTIONARY[name]))
    argv = [
        sys.argv[0],
        f"-max_total_time={int(seconds)}",
        f"-seed={seed}",
        f"-max_len={max(4096, max_len)}",
        "-print_final_stats=1",
        f"-artifact_prefix={findings.artifacts}/{name}-",
        f"-dict={dictionary}",
        str(corpus_dir),
        *extra,
    ]
    atheris.Setup(argv, one_input, custom_mutator=custom_mutator)
    atheris.Fuzz()


class _FormatEveryRecord(logging.Handler):
    """Formats each record and drops it: a bad log call is found, the console stays quiet."""

    def emit(self, record: logging.LogRecord) -> None:
        record.getMessage()
        if record.exc_info:
            logging.Formatter().formatException(record.exc_info)

    def handleError(self, record: logging.LogRecord) -> None:
        raise  # the formatting error itself: it is a finding


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("target", choices=sorted(TARGETS))
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--engine", choices=["auto", "atheris", "random"], default="auto")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--artifacts", type=Path, default=Path("/tmp/asyncexp-fuzz"))
    args, extra = parser.parse_known_args()
    engine = args.engine
    if engine == "auto":
        try:
            import atheris  # noqa: F401
        except ImportError:
            engine = "random"
        else:
            engine = "atheris"
    logging.basicConfig(level=logging.DEBUG, handlers=[_FormatEveryRecord()], force=True)
    sys.setrecursionlimit(max(sys.getrecursionlimit(), 1000))
    os.environ.setdefault("PYTHONHASHSEED", "0")
    findings = Findings(args.target, args.artifacts, engine)
    print(f"fuzzing {args.target} with {engine} for {args.seconds:.0f}s", flush=True)
    if engine == "atheris":
        run_atheris(args.target, args.seconds, args.seed, findings, extra)
    else:
        run_random(args.target, args.seconds, args.seed, findings)
    print(
        json.dumps(
            json.loads((args.artifacts / f"{args.target}-summary.json").read_text()), indent=1
        )
    )


if __name__ == "__main__":
    main()
