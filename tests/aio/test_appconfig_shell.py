"""The AppConfig shell without AWS: loading, deciding, recording, lifecycle."""

from __future__ import annotations

import importlib.util
import logging
from typing import Any

import pytest

from asyncexp.aio.appconfig import (
    AppConfigExperiments,
    MissingExtraError,
    RunSource,
)
from asyncexp.core.appconfig import ExperimentRun, Reason
from asyncexp.errors import (
    ClientClosedError,
    ClientStateError,
    ConfigError,
    ValidationError,
)
from tests.appconfig_samples import FLAGS_DOCUMENT, IN_AUDIENCE, run_dict, snapshot

T0 = 1_782_993_600.0  # 2026-07-02T12:00:00Z


class Sink:
    def __init__(self) -> None:
        self.items: list[dict[str, Any]] = []

    def submit(self, item: dict[str, Any], /) -> None:
        self.items.append(item)


class BrokenSink:
    def __init__(self) -> None:
        self.calls = 0

    def submit(self, item: dict[str, Any], /) -> None:
        self.calls += 1
        raise ClientClosedError("collector is closed")


def _clock() -> Any:
    ticks = iter(range(1000))
    return lambda: T0 + next(ticks)


def test_constructs_and_decides_without_an_event_loop() -> None:
    sink = Sink()
    exp = AppConfigExperiments(sink, clock=_clock(), region="us-east-1")
    run = exp.load_run(run_dict(ExposurePercentage=100.0))
    assert exp.runs == {"checkout": run}
    decision = exp.decide_treatment("user-1", IN_AUDIENCE)
    assert (decision.reason, decision.treatment_key) == (Reason.ASSIGNED, "t1")
    assert decision.attributes["color"] == "red"
    assert sink.items == [
        {
            "type": "AWS.AppConfig.TreatmentAssignment",
            "timestamp": "2026-07-02T12:00:00.000Z",
            "region": "us-east-1",
            "applicationId": "app1",
            "experimentDefinitionId": "exp1",
            "experimentRunNumber": "3",
            "treatmentKey": "t1",
            "entityId": "user-1",
        }
    ]
    assert exp.stats.assignments_recorded == 1


def test_only_assigned_decisions_are_recorded() -> None:
    sink = Sink()
    exp = AppConfigExperiments(sink, clock=_clock())
    exp.load_run(run_dict(ExposurePercentage=100.0))
    exp.decide_treatment("user-1", {"country": "FR"})  # not in the audience
    exp.decide_treatment("qa-anna")  # override: recorded
    user2 = exp.decide_treatment("user-2", IN_AUDIENCE)
    assert [(e["entityId"], e["treatmentKey"]) for e in sink.items] == [
        ("qa-anna", "t2"),
        ("user-2", user2.treatment_key),
    ]
    assert [e["timestamp"][17:23] for e in sink.items[:2]] == ["00.000", "01.000"]


def test_recording_can_be_turned_off_or_have_no_collector() -> None:
    sink = Sink()
    off = AppConfigExperiments(sink, record_assignments=False)
    off.load_run(run_dict(ExposurePercentage=100.0))
    assert off.decide_treatment("user-1", IN_AUDIENCE).assigned
    assert sink.items == []
    assert off.stats.assignments_recorded == 0
    none = AppConfigExperiments()
    none.load_run(run_dict(ExposurePercentage=100.0))
    assert none.decide_treatment("user-1", IN_AUDIENCE).assigned


def test_a_failing_collector_is_counted_and_logged_once(caplog: pytest.LogCaptureFixture) -> None:
    sink = BrokenSink()
    exp = AppConfigExperiments(sink)
    exp.load_run(run_dict(ExposurePercentage=100.0))
    with caplog.at_level(logging.DEBUG, logger="asyncexp.appconfig"):
        decisions = [exp.decide_treatment(f"user-{i}", IN_AUDIENCE) for i in range(5)]
    assert all(d.assigned for d in decisions)
    assert sink.calls == 5
    assert exp.stats.assignments_dropped == 5
    assert exp.stats.last_error == "ClientClosedError: collector is closed"
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "assignment event dropped" in warnings[0].getMessage()


def test_several_runs_are_kept_by_flag_key() -> None:
    exp = AppConfigExperiments()
    assert exp.decide_treatment("u").reason is Reason.NO_RUN
    exp.load_run(run_dict(ExposurePercentage=100.0))
    other = run_dict(ExperimentDefinitionId="exp2", ExposurePercentage=100.0)
    snapshot(other)["FlagKey"] = "banner"
    snapshot(other)["AudienceRule"] = '(exists key::"country")'
    snapshot(other)["Id"] = "exp2"
    exp.load_run(other)
    assert sorted(exp.runs) == ["banner", "checkout"]
    with pytest.raises(ValidationError, match="pass flag_key="):
        exp.decide_treatment("user-1", IN_AUDIENCE)
    banner = exp.decide_treatment("user-1", {"country": "FR"}, flag_key="banner")
    assert banner.flag_key == "banner"
    assert banner.assigned
    assert exp.decide_treatment("u", flag_key="nope").reason is Reason.NO_RUN


def test_a_new_run_replaces_the_old_one_and_notifies() -> None:
    seen: list[ExperimentRun] = []
    exp = AppConfigExperiments(on_update=seen.append)
    first = exp.load_run(run_dict())
    exp.load_run(run_dict())  # unchanged: no notification
    done = exp.load_run(run_dict(Status="DONE"))
    assert seen == [first, done]
    assert exp.stats.updates == 2
    assert exp.decide_treatment("qa-anna").reason is Reason.RUN_DONE


def test_a_failing_listener_does_not_break_loading(caplog: pytest.LogCaptureFixture) -> None:
    def boom(run: ExperimentRun) -> None:
        raise RuntimeError("listener bug")

    exp = AppConfigExperiments(on_update=boom)
    with caplog.at_level(logging.ERROR, logger="asyncexp.appconfig"):
        run = exp.load_run(run_dict())
    assert exp.runs["checkout"] is run
    assert "on_update listener failed" in caplog.text


def test_invalid_runs_raise_and_keep_the_loaded_one() -> None:
    exp = AppConfigExperiments()
    good = exp.load_run(run_dict())
    with pytest.raises(ConfigError, match="between 0 and 100"):
        exp.load_run(run_dict(ExposurePercentage=150.0))
    assert exp.runs["checkout"] is good


def test_flags_fall_through_and_evaluate_flag() -> None:
    exp = AppConfigExperiments(flags=FLAGS_DOCUMENT)
    exp.load_run(run_dict(ExposurePercentage=0.0))
    decision = exp.decide_treatment("user-1", IN_AUDIENCE)
    assert decision.reason is Reason.NOT_EXPOSED
    assert decision.enabled is True
    assert decision.attributes["color"] == "green"
    served = exp.evaluate_flag("ui_refresh", {"accountId": "x-123"})
    assert served is not None
    assert served.variant == "BetaUsers"
    assert AppConfigExperiments().evaluate_flag("ui_refresh") is None


def test_missing_aiobotocore_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    real = importlib.util.find_spec

    def find_spec(name: str, *args: Any) -> Any:
        return None if name == "aiobotocore" else real(name, *args)

    monkeypatch.setattr(importlib.util, "find_spec", find_spec)
    with pytest.raises(MissingExtraError, match=r"pip install 'asyncexp\[aws\]'") as info:
        AppConfigExperiments(sources=[RunSource("app1", "exp1", 3)])
    assert isinstance(info.value, ImportError)
    AppConfigExperiments()  # nothing to poll: no aiobotocore needed


def test_bad_options() -> None:
    with pytest.raises(ConfigError, match=r"RunSource\.run"):
        RunSource("app1", "exp1", 0)
    with pytest.raises(ConfigError, match=r"RunSource\.application"):
        RunSource("", "exp1", 1)
    with pytest.raises(ConfigError, match="poll_interval"):
        AppConfigExperiments(poll_interval=0)
    with pytest.raises(ConfigError, match="sources must hold RunSource"):
        AppConfigExperiments(sources=[("app1", "exp1", 3)])  # type: ignore[list-item]


async def test_lifecycle_without_sources() -> None:
    exp = AppConfigExperiments()
    async with exp:
        exp.load_run(run_dict())
        with pytest.raises(ClientStateError, match="needs start"):
            await exp.refresh()
        await exp.start()  # a second start is a no-op
    await exp.aclose()  # idempotent
    with pytest.raises(ClientClosedError):
        await exp.start()
    assert exp.decide_treatment("qa-anna").treatment_key == "t2"  # decisions still work


def test_repr_shows_no_credentials() -> None:
    exp = AppConfigExperiments(
        session=object(),
        sources=[RunSource("app1", "exp1", 3)],
        client_kwargs={"aws_secret_access_key": "s3cr3t-value", "aws_access_key_id": "AKIDX"},
    )
    text = repr(exp)
    assert "s3cr3t" not in text
    assert "AKIDX" not in text
    assert "sources=1" in text
