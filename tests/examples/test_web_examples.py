"""The web examples serve real requests on 127.0.0.1, shut down and lose no event."""

from __future__ import annotations

import pytest

from tests.examples.loading import load_example


async def test_aiohttp_example_flushes_every_event_at_shutdown(
    capsys: pytest.CaptureFixture[str],
) -> None:
    module = load_example("aiohttp_app")
    result = await module.main()
    users = list(module.USERS)
    assert [answer["user"] for answer in result["answers"]] == users
    assert [record["xwho"] for record in result["records"]] == users
    assert {record["xwhat"] for record in result["records"]} == {"CheckoutViewed"}
    assert {record["appid"] for record in result["records"]} == {"shop"}
    assert result["impressions"] == len(users)
    out = capsys.readouterr().out
    assert "before shutdown the ingestion server holds 0 records" in out
    assert "after shutdown it holds 3 analytics records (CheckoutViewed) and 3 impressions" in out


async def test_fastapi_example_answers_400_without_a_user_and_flushes_the_rest(
    capsys: pytest.CaptureFixture[str],
) -> None:
    module = load_example("fastapi_app")
    result = await module.main()
    users = list(module.USERS)
    answers = result["answers"]
    assert [answer["status"] for answer in answers] == [200] * len(users) + [400]
    assert [answer["user"] for answer in answers[:-1]] == users
    assert answers[-1]["detail"] == "missing user id: send the 'X-User-Id' header"
    records = result["records"]
    assert [record["xwho"] for record in records] == users
    assert {record["xwhat"] for record in records} == {"Search"}
    # Set by the app's own lifespan, which runs inside the client's.
    assert {record["xcontext"]["service"] for record in records} == {"search-api"}
    assert result["impressions"] == len(users)
    out = capsys.readouterr().out
    assert "before shutdown the ingestion server holds 0 records" in out
    assert "after shutdown it holds 3 analytics records (Search) and 3 impressions" in out
