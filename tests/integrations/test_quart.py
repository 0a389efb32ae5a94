"""Quart: ``setup_client`` starts the client while the app serves; ``get_client`` finds it."""

from __future__ import annotations

from typing import Any

import pytest

quart = pytest.importorskip("quart")

from asyncexp import Client  # noqa: E402
from asyncexp.errors import ArgumentTypeError, ClientStateError  # noqa: E402
from asyncexp.integrations.quart import get_client, setup_client  # noqa: E402
from asyncexp.testing import CapturingCollector  # noqa: E402
from tests.integrations.harness import APP_KEY, RecordingCollector, capturing_client  # noqa: E402

FLAG = "checkout_widget"


def make_app(collector: CapturingCollector, **kwargs: Any) -> Any:
    app = quart.Quart("asyncexp-test")
    setup_client(app, lambda: capturing_client(collector), **kwargs)

    @app.get("/decide")
    async def decide() -> dict[str, object]:
        client = get_client()  # Quart's current_app
        user_id = quart.request.args["user"]
        decision = client.create_user_context(user_id, {"country": "US"}).decide(FLAG)
        client.track(user_id, "PageServed", {"path": "/decide"})
        return {"flag": decision.flag_key, "variation": decision.variation_key}

    return app


async def test_served_requests_use_the_started_client_and_shutdown_flushes() -> None:
    collector = RecordingCollector()
    app = make_app(collector, close_timeout=3.0)
    with pytest.raises(ClientStateError, match="setup_client registered it, but the app is not"):
        get_client(app)
    async with app.test_app() as test_app:
        client = get_client(app)
        assert collector.started
        response = await test_app.test_client().get("/decide?user=u1")
        assert response.status_code == 200
        body = await response.get_json()
        assert body["flag"] == FLAG
        assert not collector.closed
    assert collector.closed
    assert collector.close_timeouts == [3.0]
    assert client.closed
    tracked = [item for item in collector.items if isinstance(item, dict)]
    assert [record["xwhat"] for record in tracked] == ["PageServed"]
    assert tracked[0]["appid"] == APP_KEY
    with pytest.raises(ClientStateError, match="is not running"):
        get_client(app)  # after shutdown: removed


async def test_a_factory_serves_the_app_twice() -> None:
    collectors: list[CapturingCollector] = []

    def make() -> Client:
        collectors.append(CapturingCollector())
        return capturing_client(collectors[-1])

    app = quart.Quart("twice")
    setup_client(app, make)
    for _ in range(2):
        async with app.test_app():
            assert get_client(app).create_user_context("u").decide(FLAG).flag_key == FLAG
    assert len(collectors) == 2
    assert all(c.closed for c in collectors)


def test_misuse_is_reported() -> None:
    app = quart.Quart("misuse")
    with pytest.raises(ClientStateError, match=r"no asyncexp client under 'asyncexp': call setup"):
        get_client(app)
    with pytest.raises(ClientStateError, match="outside a Quart app or request context"):
        get_client()
    with pytest.raises(ArgumentTypeError, match="needs a Quart app"):
        setup_client(object(), lambda: capturing_client(CapturingCollector()))  # type: ignore[arg-type]
    with pytest.raises(ArgumentTypeError, match="a Client or a factory"):
        setup_client(app, 42)  # type: ignore[arg-type]
    setup_client(app, lambda: capturing_client(CapturingCollector()))
    with pytest.raises(ClientStateError, match="already called for 'asyncexp'"):
        setup_client(app, lambda: capturing_client(CapturingCollector()))
    setup_client(app, lambda: capturing_client(CapturingCollector()), key="other")
