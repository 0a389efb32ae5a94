"""trust_env is read once per URL, not per request, and still routes through an env proxy."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

import asyncexp.aio.http as http_module
from asyncexp.aio.http import HttpTransport, TransportError
from tests.local_servers import DatafileHost, ForwardProxy


@pytest.fixture(autouse=True)
def _no_proxy_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)


@pytest.fixture
async def host() -> AsyncIterator[DatafileHost]:
    async with DatafileHost({"version": "4"}) as server:
        yield server


@pytest.fixture
async def proxy() -> AsyncIterator[ForwardProxy]:
    async with ForwardProxy() as server:
        yield server


async def test_the_environment_is_read_once_per_url_and_every_request_uses_it(
    host: DatafileHost, proxy: ForwardProxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HTTP_PROXY", proxy.url)
    lookups: list[str] = []
    real = http_module._env_route

    def counting(url: str) -> http_module._EnvRoute:
        lookups.append(url)
        return real(url)

    monkeypatch.setattr(http_module, "_env_route", counting)
    transport = HttpTransport()
    try:
        for _ in range(3):
            assert (await transport.get(host.url, timeout=10)).status == 200
    finally:
        await transport.aclose()
    assert lookups == [host.url]
    assert proxy.urls() == [host.url] * 3  # every request went through the env proxy
    assert host.gets == 3


async def test_netrc_credentials_for_the_host_are_sent(
    host: DatafileHost, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    netrc = tmp_path / "netrc"
    netrc.write_text("machine 127.0.0.1 login alice password s3cret\n", encoding="utf-8")
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))
    transport = HttpTransport()
    try:
        assert (await transport.get(host.url, timeout=10)).status == 200
        # an explicit Authorization header wins over the netrc entry
        await transport.request("GET", host.url, headers={"Authorization": "Bearer t"})
    finally:
        await transport.aclose()
    assert host.seen[0].headers["Authorization"] == "Basic YWxpY2U6czNjcmV0"  # alice:s3cret
    assert host.seen[1].headers["Authorization"] == "Bearer t"
    other = http_module._env_route(host.url.replace("127.0.0.1", "localhost"))
    assert other == (None, None, None)  # no entry for that host


async def test_a_malformed_url_still_fails_as_a_transport_error() -> None:
    transport = HttpTransport()
    try:
        with pytest.raises(TransportError):
            await transport.get("http://127.0.0.1:notaport/d.json", timeout=10)
    finally:
        await transport.aclose()
