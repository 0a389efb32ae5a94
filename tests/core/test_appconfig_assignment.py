"""Assignment: distribution, stability (across processes and ramp-ups), overrides, DONE runs."""

from __future__ import annotations

import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import mmh3
import orjson
import pytest

from asyncexp.core.appconfig import (
    ASSIGNMENT_EVENT_TYPE,
    FlagValue,
    Reason,
    assign,
    build_assignment_event,
    parse_experiment_run,
    parse_feature_flags,
)
from asyncexp.core.appconfig.assignment import exposure_hash, treatment_hash
from asyncexp.errors import ArgumentTypeError, ValidationError
from tests.appconfig_samples import FLAGS_DOCUMENT, IN_AUDIENCE, run_dict, snapshot

REPO = Path(__file__).resolve().parents[2]
N = 100_000


def test_hash_is_murmur3_x86_32_seed_1_of_identity_and_entity() -> None:
    assert exposure_hash("app1:exp1:3", "user-0") == mmh3.hash(
        "app1:exp1:3:exposure:user-0", 1, signed=False
    )
    assert treatment_hash("app1:exp1:3", "user-0") == mmh3.hash(
        "app1:exp1:3:treatment:user-0", 1, signed=False
    )
    # pinned vectors: a change here would reassign every entity of every run
    assert exposure_hash("app1:exp1:3", "user-0") == 497976798
    assert treatment_hash("app1:exp1:3", "user-0") == 3758314899


def test_golden_assignments() -> None:
    run = parse_experiment_run(run_dict())
    keys = [assign(run, f"user-{i}", IN_AUDIENCE).treatment_key for i in range(12)]
    assert keys == ["t2", "t1", "t1", "c", "t2", "t2", "c", "t2", None, "t1", "t1", "t1"]


@pytest.mark.parametrize(
    ("exposure", "weights"),
    [(60.0, (1.0, 2.0, 1.0)), (100.0, (1.0, 1.0, 1.0)), (12.5, (0.5, 0.3, 0.2)), (80.0, (5, 0, 3))],
)
def test_distribution_over_100k_entities(exposure: float, weights: tuple[float, ...]) -> None:
    data = run_dict(ExposurePercentage=exposure, TreatmentOverrides=None)
    snap = snapshot(data)
    for arm, weight in zip((snap["Control"], *snap["Treatments"]), weights, strict=True):
        arm["Weight"] = weight
    run = parse_experiment_run(data)
    counts = Counter(assign(run, f"entity-{i}", IN_AUDIENCE).treatment_key for i in range(N))
    total = sum(weights)
    expected = {
        key: exposure / 100 * w / total for key, w in zip(("c", "t1", "t2"), weights, strict=True)
    }
    expected[None] = 1 - exposure / 100  # type: ignore[index]
    for key, share in expected.items():
        assert abs(counts[key] / N - share) < 0.01, (key, counts[key] / N, share)


def test_stable_across_processes() -> None:
    data = run_dict()
    users = [f"user-{i}" for i in range(500)]
    script = (
        "import sys, orjson\n"
        "from asyncexp.core.appconfig import assign, parse_experiment_run\n"
        "payload = orjson.loads(sys.stdin.buffer.read())\n"
        "run = parse_experiment_run(payload['run'])\n"
        "keys = [assign(run, u, payload['ctx']).treatment_key for u in payload['users']]\n"
        "sys.stdout.buffer.write(orjson.dumps(keys))\n"
    )
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    out = subprocess.run(
        [sys.executable, "-c", script],
        input=orjson.dumps({"run": data, "ctx": IN_AUDIENCE, "users": users}),
        capture_output=True,
        check=True,
        cwd=REPO,
        env=env,
        timeout=120,
    ).stdout
    run = parse_experiment_run(data)
    here = [assign(run, u, IN_AUDIENCE).treatment_key for u in users]
    assert orjson.loads(out) == here
    assert len(set(here)) == 4  # c, t1, t2 and None all occur, so the comparison means something


def test_same_entity_same_treatment_while_exposure_ramps_up() -> None:
    low = parse_experiment_run(run_dict(ExposurePercentage=20.0))
    high = parse_experiment_run(run_dict(ExposurePercentage=60.0))
    moved = newly = 0
    for i in range(20_000):
        before = assign(low, f"e{i}", IN_AUDIENCE).treatment_key
        after = assign(high, f"e{i}", IN_AUDIENCE).treatment_key
        if before is not None:
            moved += before != after
        else:
            newly += after is not None
    assert moved == 0
    assert newly > 7000  # about 40% of 20,000 joined


def test_new_run_number_reshuffles() -> None:
    run3 = parse_experiment_run(run_dict(ExposurePercentage=100.0))
    run4 = parse_experiment_run(run_dict(ExposurePercentage=100.0, Run=4))
    differ = sum(
        assign(run3, f"e{i}", IN_AUDIENCE).treatment_key
        != assign(run4, f"e{i}", IN_AUDIENCE).treatment_key
        for i in range(1000)
    )
    assert differ > 400


def test_reasons_and_decision_fields() -> None:
    run = parse_experiment_run(run_dict(ExposurePercentage=100.0))
    decision = assign(run, "user-1", IN_AUDIENCE)
    assert decision.reason is Reason.ASSIGNED
    assert decision.assigned
    assert decision.treatment_key == "t1"
    assert decision.variant == "__t1__"
    assert decision.flag_key == "checkout"
    assert decision.enabled is True
    assert decision.attributes["color"] == "red"
    assert decision.flag_value == run.treatment("t1").flag_value  # type: ignore[union-attr]
    assert decision.run is run

    outside = assign(run, "user-1", {**IN_AUDIENCE, "country": "FR"})
    assert outside.reason is Reason.NOT_IN_AUDIENCE
    assert not outside.assigned
    assert outside.flag_value is None
    assert outside.enabled is None
    assert dict(outside.attributes) == {}
    unknown = assign(run, "user-1", {"country": "US", "age": 30})
    assert unknown.reason is Reason.AUDIENCE_UNKNOWN
    assert assign(run, "user-1").reason is Reason.AUDIENCE_UNKNOWN

    nobody = parse_experiment_run(run_dict(ExposurePercentage=0.0))
    assert all(
        assign(nobody, f"u{i}", IN_AUDIENCE).reason is Reason.NOT_EXPOSED for i in range(500)
    )
    assert assign(None, "user-1").reason is Reason.NO_RUN


def test_overrides_bypass_audience_and_exposure() -> None:
    run = parse_experiment_run(run_dict(ExposurePercentage=0.0))
    anna = assign(run, "qa-anna", {"country": "FR"})
    assert anna.reason is Reason.OVERRIDE
    assert anna.treatment_key == "t2"
    assert anna.variant == "__t2_override__"
    assert anna.enabled is False
    bob = assign(run, "qa-bob")
    assert (bob.reason, bob.treatment_key, bob.attributes["color"]) == (
        Reason.OVERRIDE,
        "c",
        "blue",
    )


def test_done_runs_assign_nobody() -> None:
    run = parse_experiment_run(run_dict(Status="DONE", ExposurePercentage=100.0))
    for entity in ("qa-anna", "user-1", "user-2"):
        decision = assign(run, entity, IN_AUDIENCE)
        assert decision.reason is Reason.RUN_DONE
        assert decision.treatment_key is None


def test_entity_id_is_visible_to_the_audience_rule() -> None:
    data = run_dict(ExposurePercentage=100.0)
    snapshot(data)["AudienceRule"] = '(begins_with $entityId "beta-")'
    run = parse_experiment_run(data)
    assert assign(run, "beta-7").assigned
    assert assign(run, "prod-7").reason is Reason.NOT_IN_AUDIENCE
    # a context that sets entityId itself wins
    assert assign(run, "beta-7", {"entityId": "prod-7"}).reason is Reason.NOT_IN_AUDIENCE


def test_fall_through_to_the_flag_value() -> None:
    flags = parse_feature_flags(FLAGS_DOCUMENT)
    run = parse_experiment_run(run_dict(ExposurePercentage=0.0))
    decision = assign(run, "user-1", IN_AUDIENCE, flags=flags)
    assert decision.reason is Reason.NOT_EXPOSED
    assert decision.treatment_key is None
    assert decision.flag_value == FlagValue(True, {"color": "green"})
    assert decision.variant is None
    no_run = assign(None, "u", {"accountId": "acct-123"}, flags=flags, flag_key="ui_refresh")
    assert no_run.reason is Reason.NO_RUN
    assert (no_run.variant, no_run.attributes["theme"]) == ("BetaUsers", "dark")
    missing = assign(None, "u", flags=flags, flag_key="nope")
    assert missing.flag_value is None


def test_bad_arguments_raise() -> None:
    run = parse_experiment_run(run_dict())
    with pytest.raises(ArgumentTypeError, match="entity_id must be a str"):
        assign(run, 42)  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="1–2048"):
        assign(run, "")
    with pytest.raises(ValidationError, match="1–2048"):
        assign(run, "x" * 2049)
    with pytest.raises(ArgumentTypeError, match="context must be a mapping"):
        assign(run, "u", ["country"])  # type: ignore[arg-type]


def test_assignment_event_has_the_agent_log_shape() -> None:
    run = parse_experiment_run(run_dict(ExposurePercentage=100.0))
    decision = assign(run, "user-1", IN_AUDIENCE)
    event = build_assignment_event(
        decision, "user-1", 1_782_993_600.25, region="eu-west-1", account_id="123456789012"
    )
    assert event == {
        "type": ASSIGNMENT_EVENT_TYPE,
        "timestamp": "2026-07-02T12:00:00.250Z",
        "region": "eu-west-1",
        "accountId": "123456789012",
        "applicationId": "app1",
        "experimentDefinitionId": "exp1",
        "experimentRunNumber": "3",
        "treatmentKey": "t1",
        "entityId": "user-1",
    }
    assert ASSIGNMENT_EVENT_TYPE == "AWS.AppConfig.TreatmentAssignment"
    bare = build_assignment_event(assign(run, "qa-bob"), "qa-bob", 0.0)
    assert "region" not in bare
    assert "accountId" not in bare
    assert (bare["treatmentKey"], bare["timestamp"]) == ("c", "1970-01-01T00:00:00.000Z")
    with pytest.raises(ValidationError, match="only an assigned decision"):
        build_assignment_event(assign(run, "user-1"), "user-1", 0.0)
