"""``decide``/``config`` with ``--sdk-key`` or ``--datafile-url`` against a local datafile server.

Every URL points at 127.0.0.1: ``--url-template`` or ``--datafile-url`` replace the CDN.
"""

from __future__ import annotations

import orjson
import pytest

from asyncexp import Client
from asyncexp.cli._source import TOKEN_ENV
from tests.cli.conftest import DatafileServer
from tests.cli.helpers import cli_env, closed_port, run_cli

SDK_KEY = "SecretSdkKey-4f1c9e"
TOKEN = "secret-token-77d2"


async def test_config_by_sdk_key(datafile_server: DatafileServer, datafile_text: str) -> None:
    datafile_server.bodies[f"{SDK_KEY}.json"] = datafile_text.encode()
    result = await run_cli(
        "config", "--sdk-key", SDK_KEY, "--url-template", datafile_server.template()
    )
    assert result.code == 0, result.err
    view = Client(datafile=datafile_text, odp_disabled=True).get_config()
    assert view is not None
    assert result.json() == orjson.loads(orjson.dumps(view.to_dict()))
    assert [name for name, _ in datafile_server.requests] == [f"{SDK_KEY}.json"]
    assert SDK_KEY not in result.err


async def test_decide_by_sdk_key_with_token_from_the_environment(
    datafile_server: DatafileServer, datafile_text: str
) -> None:
    datafile_server.bodies[f"{SDK_KEY}.json"] = datafile_text.encode()
    result = await run_cli(
        "decide",
        "-vvv",  # every library log shown, yet neither secret may appear
        "--sdk-key",
        SDK_KEY,
        "--url-template",
        datafile_server.template(),
        "--user",
        "user-1",
        "--attr",
        "age=31",
        env=cli_env(**{TOKEN_ENV: TOKEN}),
    )
    assert result.code == 0, result.err
    client = Client(datafile=datafile_text, odp_disabled=True)
    user = client.create_user_context("user-1", {"age": 31})
    expected = {k: d.as_dict() for k, d in user.decide_all().items()}
    assert result.json() == orjson.loads(orjson.dumps(expected))
    (_, headers), *_ = datafile_server.requests
    assert headers["Authorization"] == f"Bearer {TOKEN}"
    assert SDK_KEY not in result.err
    assert TOKEN not in result.err


async def test_decide_by_datafile_url(datafile_server: DatafileServer, datafile_text: str) -> None:
    datafile_server.bodies["mine.json"] = datafile_text.encode()
    url = datafile_server.url + "/datafiles/mine.json"
    result = await run_cli(
        "decide", "--datafile-url", url, "--user", "u", "--flag", "cart_copy_test"
    )
    assert result.code == 0, result.err
    assert list(result.json()) == ["cart_copy_test"]


@pytest.mark.parametrize("verbose", [[], ["-v"], ["-vvv"]])
async def test_missing_datafile_fails_fast_without_leaking_the_key(
    datafile_server: DatafileServer, verbose: list[str]
) -> None:
    # No --timeout: the first failed fetch ends the command, not the 10 s wait.
    result = await run_cli(
        "config", *verbose, "--sdk-key", SDK_KEY, "--url-template", datafile_server.template()
    )
    assert result.code == 1
    assert "Traceback" not in result.err
    assert SDK_KEY not in result.err
    error = result.err.strip().splitlines()[-1]
    assert error.startswith("asyncexp config: error: could not load the datafile: ")
    assert "HTTP 404" in error
    assert f"/datafiles/…{SDK_KEY[-4:]}.json" in error  # masked by the datafile source
    if not verbose:
        assert len(result.err.strip().splitlines()) == 1


async def test_unparsable_network_datafile(datafile_server: DatafileServer) -> None:
    datafile_server.bodies[f"{SDK_KEY}.json"] = b"{not json"
    result = await run_cli(
        "decide",
        "--sdk-key",
        SDK_KEY,
        "--url-template",
        datafile_server.template(),
        "--user",
        "u",
    )
    line = result.assert_one_line_error(1)
    assert "not valid JSON" in line
    assert SDK_KEY not in result.err


async def test_unreachable_datafile_server() -> None:
    url = f"http://127.0.0.1:{closed_port()}/datafiles/{{sdk_key}}.json"
    result = await run_cli("config", "--sdk-key", SDK_KEY, "--url-template", url)
    line = result.assert_one_line_error(1)
    assert "could not load the datafile" in line
    assert SDK_KEY not in result.err
