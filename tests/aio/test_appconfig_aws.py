"""Polling ``get_experiment_run`` through aiobotocore against a local AppConfig fake.

The fake is an aiohttp server on 127.0.0.1 that answers the REST path of
GetExperimentRun; the client gets dummy credentials and ``endpoint_url`` pointing
at it, so no request leaves the machine.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest
from aiohttp import web

from asyncexp.aio.appconfig import AppConfigExperiments, RunSource
from asyncexp.core.appconfig import ExperimentRun, Reason, RunStatus
from tests.appconfig_samples import IN_AUDIENCE, run_dict

pytest.importorskip("aiobotocore")

SECRET = "dummy-secret-key-never-logged"
ACCESS_KEY = "AKIDLOCALTEST"
PATH = "/applications/{app}/experimentdefinitions/{definition}/experimentruns/{run}"


def _wire(data: dict[str, Any]) -> bytes:
    """The service's JSON: timestamps as ISO-8601 strings."""
    return orjson.dumps(data)


class FakeAppConfig:
    """Answers GetExperimentRun with whatever ``reply`` holds; records each request."""

    def __init__(self) -> None:
        self.reply: tuple[int, dict[str, Any], dict[str, str]] = (200, run_dict(), {})
        self.requests: list[tuple[str, dict[str, str]]] = []
        self.port = 0

    async def handle(self, request: web.Request) -> web.Response:
        self.requests.append((request.path, dict(request.headers)))
        status, body, headers = self.reply
        return web.Response(
            status=status,
            body=_wire(body),
            headers={"Content-Type": "application/json", **headers},
        )

    def not_found(self) -> None:
        self.reply = (
            404,
            {"Message": "Experiment run not found"},
            {"x-amzn-ErrorType": "ResourceNotFoundException"},
        )


@pytest.fixture
async def fake() -> AsyncIterator[FakeAppConfig]:
    server = FakeAppConfig()
    app = web.Application()
    app.router.add_get(PATH, server.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    server.port = runner.addresses[0][1]
    try:
        yield server
    finally:
        await runner.cleanup()


@pytest.fixture(autouse=True)
def isolated_aws_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    """No profile, config file, metadata service or endpoint override from the machine."""
    for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_ENDPOINT_URL", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


class Gate:
    """An injected ``sleep`` that parks the poller until the test releases it."""

    def __init__(self) -> None:
        self.calls: asyncio.Queue[tuple[float, asyncio.Future[None]]] = asyncio.Queue()

    async def __call__(self, delay: float) -> None:
        released = asyncio.get_running_loop().create_future()
        await self.calls.put((delay, released))
        await released

    async def next(self) -> tuple[float, asyncio.Future[None]]:
        return await asyncio.wait_for(self.calls.get(), timeout=30)


def _experiments(fake: FakeAppConfig, gate: Gate, **kwargs: Any) -> AppConfigExperiments:
    from aiobotocore.config import AioConfig

    return AppConfigExperiments(
        sources=[RunSource("app1", "exp1", 3)],
        region="us-east-1",
        poll_interval=30.0,
        max_backoff=100.0,
        sleep=gate,
        client_kwargs={
            "endpoint_url": f"http://127.0.0.1:{fake.port}",
            "aws_access_key_id": ACCESS_KEY,
            "aws_secret_access_key": SECRET,
            "config": AioConfig(retries={"total_max_attempts": 1}),
        },
        **kwargs,
    )


def test_the_pinned_botocore_has_the_experiment_operations() -> None:
    import botocore.session

    model = botocore.session.get_session().get_service_model("appconfig")
    operation = model.operation_model("GetExperimentRun")
    assert operation.http["requestUri"] == PATH.replace("{app}", "{ApplicationIdentifier}").replace(
        "{definition}", "{ExperimentDefinitionIdentifier}"
    ).replace("{run}", "{Run}")
    assert {"StartExperimentRun", "StopExperimentRun", "ListExperimentRuns"} <= set(
        model.operation_names
    )


async def test_start_fetches_the_run_and_decisions_use_it(fake: FakeAppConfig) -> None:
    gate = Gate()
    sink: list[dict[str, Any]] = []

    class Sink:
        def submit(self, item: dict[str, Any], /) -> None:
            sink.append(item)

    async with _experiments(fake, gate, collector=Sink(), clock=lambda: 1_782_993_600.0) as exp:
        run = exp.runs["checkout"]
        assert run.identity == "app1:exp1:3"
        assert run.started_at is not None
        assert run.started_at.year == 2026
        decision = exp.decide_treatment("qa-anna", IN_AUDIENCE)
        assert (decision.reason, decision.treatment_key) == (Reason.OVERRIDE, "t2")
        assert sink[0]["treatmentKey"] == "t2"
        delay, _ = await gate.next()
        assert delay == 30.0
    path, headers = fake.requests[0]
    assert path == "/applications/app1/experimentdefinitions/exp1/experimentruns/3"
    assert headers["Authorization"].startswith(f"AWS4-HMAC-SHA256 Credential={ACCESS_KEY}/")
    assert all(SECRET not in value for value in headers.values())


async def test_polling_picks_up_changes(fake: FakeAppConfig) -> None:
    gate = Gate()
    updates: list[ExperimentRun] = []
    async with _experiments(fake, gate, on_update=updates.append) as exp:
        first = exp.runs["checkout"]
        assert first.status is RunStatus.RUNNING
        _, release = await gate.next()
        fake.reply = (200, run_dict(Status="DONE", EndedAt="2026-07-09T00:00:00Z"), {})
        release.set_result(None)
        delay, _ = await gate.next()  # the poller finished its round and sleeps again
        assert delay == 30.0
        assert exp.runs["checkout"].status is RunStatus.DONE
        assert exp.decide_treatment("qa-anna").reason is Reason.RUN_DONE
        assert [u.status for u in updates] == [RunStatus.RUNNING, RunStatus.DONE]
        assert exp.stats.fetches == 2
        assert exp.stats.fetch_errors == 0
    assert len(fake.requests) == 2


async def test_errors_keep_the_loaded_run_and_back_off(
    fake: FakeAppConfig, caplog: pytest.LogCaptureFixture
) -> None:
    gate = Gate()
    caplog.set_level(logging.DEBUG)
    async with _experiments(fake, gate) as exp:
        good = exp.runs["checkout"]
        _, release = await gate.next()

        fake.reply = (200, run_dict(ExposurePercentage=150.0), {})  # invalid: rejected
        release.set_result(None)
        delay, release = await gate.next()
        assert delay == 60.0  # one failed round: the interval doubles
        assert exp.runs["checkout"] is good
        assert exp.stats.rejected_runs == 1

        fake.not_found()
        release.set_result(None)
        delay, release = await gate.next()
        assert delay == 100.0  # capped by max_backoff
        assert exp.runs["checkout"] is good
        assert exp.stats.fetch_errors == 1
        assert exp.stats.last_error is not None
        assert "ResourceNotFoundException" in exp.stats.last_error

        fake.reply = (200, run_dict(ExposurePercentage=80.0), {})
        release.set_result(None)
        delay, _ = await gate.next()
        assert delay == 30.0  # success resets the backoff
        assert exp.runs["checkout"].exposure_percentage == 80.0
    assert "ignoring invalid experiment run" in caplog.text
    assert "get_experiment_run" in caplog.text
    assert SECRET not in caplog.text
    assert SECRET not in repr(exp)


async def test_a_first_fetch_failure_does_not_fail_start(fake: FakeAppConfig) -> None:
    fake.not_found()
    gate = Gate()
    async with _experiments(fake, gate) as exp:
        assert exp.runs == {}
        assert exp.decide_treatment("u1").reason is Reason.NO_RUN
        delay, release = await gate.next()
        assert delay == 60.0
        fake.reply = (200, run_dict(), {})
        assert await exp.refresh() is True
        assert "checkout" in exp.runs
        release.set_result(None)
        await gate.next()


async def test_aclose_stops_the_poller(fake: FakeAppConfig) -> None:
    gate = Gate()
    exp = _experiments(fake, gate)
    await exp.start()
    await gate.next()
    task = exp._poller._task
    assert task is not None
    assert not task.done()
    await exp.aclose()
    assert task.cancelled()
    assert exp._poller._client is None
    await exp.aclose()
