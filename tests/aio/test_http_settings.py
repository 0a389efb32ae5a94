"""HttpSettings: a forward proxy (explicit and from the environment) and a custom CA."""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import trustme

from asyncexp import BatchCollector, Client, ConfigError, HttpSettings
from asyncexp.aio.http import HttpTransport, TransportError
from asyncexp.testing import DatafileBuilder, IngestionServer
from tests.local_servers import ConnectProxy, DatafileHost, ForwardProxy


def datafile() -> DatafileBuilder:
    builder = DatafileBuilder(revision="3")
    builder.flag("f").variation("on").experiment("exp", split={"on": 1})
    return builder


@pytest.fixture
async def host() -> AsyncIterator[DatafileHost]:
    async with DatafileHost(datafile().build()) as server:
        yield server


@pytest.fixture
async def proxy() -> AsyncIterator[ForwardProxy]:
    async with ForwardProxy() as server:
        yield server


@pytest.fixture
async def ingest() -> AsyncIterator[IngestionServer]:
    async with IngestionServer() as server:
        yield server


@pytest.fixture(autouse=True)
def _no_proxy_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)


def collector(ingest: IngestionServer) -> BatchCollector:
    return BatchCollector(ingest.url, optimizely_events_url=ingest.events_url, max_interval=3600)


async def test_explicit_proxy_carries_datafile_fetch_and_collector_post(
    host: DatafileHost, proxy: ForwardProxy, ingest: IngestionServer
) -> None:
    client = Client(
        datafile_url=host.url,
        collector=collector(ingest),
        http=HttpSettings(proxy=proxy.url, trust_env=False),
        ready_timeout=10,
    )
    async with client:
        assert client.config is not None
        assert client.config.revision == "3"
        client.create_user_context("u").decide("f")
        await client.flush()
    urls = proxy.urls()
    assert urls[0] == host.url  # the GET went through the proxy, to the origin
    assert any(u.startswith(ingest.events_url) for u in urls)
    assert [s.method for s in proxy.seen] == ["GET", "POST"]
    assert host.gets == 1
    assert len(ingest.requests) == 1


async def test_proxy_from_the_environment_and_no_proxy(
    host: DatafileHost, proxy: ForwardProxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HTTP_PROXY", proxy.url)
    transport = HttpTransport()  # trust_env defaults to True
    try:
        assert (await transport.get(host.url, timeout=10)).status == 200
    finally:
        await transport.aclose()
    assert proxy.urls() == [host.url]

    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    transport = HttpTransport()
    try:
        assert (await transport.get(host.url, timeout=10)).status == 200
    finally:
        await transport.aclose()
    assert proxy.urls() == [host.url]  # NO_PROXY: straight to the origin
    assert host.gets == 2


async def test_trust_env_false_ignores_the_environment(
    host: DatafileHost, proxy: ForwardProxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HTTP_PROXY", proxy.url)
    transport = HttpTransport(settings=HttpSettings(trust_env=False))
    try:
        assert (await transport.get(host.url, timeout=10)).status == 200
    finally:
        await transport.aclose()
    assert proxy.seen == []
    assert host.gets == 1


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def ca_file(ca: trustme.CA, tmp_path: Path) -> Path:
    path = tmp_path / "corporate-ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return path


@pytest.fixture
async def tls_host(ca: trustme.CA) -> AsyncIterator[DatafileHost]:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    async with DatafileHost(datafile().build(), ssl_context=context) as server:
        yield server


async def test_custom_ca_file(tls_host: DatafileHost, ca_file: Path) -> None:
    transport = HttpTransport()
    try:
        with pytest.raises(TransportError, match=r"certificate|SSL"):
            await transport.get(tls_host.url, timeout=10)
    finally:
        await transport.aclose()
    async with Client(datafile_url=tls_host.url, http=HttpSettings(ca_file=ca_file)) as client:
        assert client.config is not None
        assert client.config.revision == "3"


async def test_https_through_a_connect_proxy_with_the_corporate_ca(
    tls_host: DatafileHost, ca_file: Path
) -> None:
    async with ConnectProxy() as proxy:
        settings = HttpSettings(proxy=proxy.url, ca_file=ca_file, trust_env=False)
        async with Client(datafile_url=tls_host.url, http=settings) as client:
            assert client.config is not None
            assert client.config.revision == "3"
    port = tls_host.url.split(":")[2].split("/")[0]
    assert proxy.targets == [f"127.0.0.1:{port}"]  # tunnelled: TLS end to end
    assert tls_host.gets == 1


async def test_custom_ssl_context(tls_host: DatafileHost, ca: trustme.CA) -> None:
    context = ssl.create_default_context()
    ca.configure_trust(context)
    transport = HttpTransport(settings=HttpSettings(ssl_context=context, ca_file=None))
    try:
        assert (await transport.get(tls_host.url, timeout=10)).status == 200
    finally:
        await transport.aclose()


@pytest.fixture
def bad_pem(tmp_path: Path) -> Path:
    path = tmp_path / "bad.pem"
    path.write_text("not a certificate")
    return path


@pytest.mark.parametrize(
    ("kwargs", "setting"),
    [
        ({"proxy": "socks5://127.0.0.1:1080"}, "http.proxy"),
        ({"proxy": "http://"}, "http.proxy"),
        ({"proxy": 8080}, "http.proxy"),
        ({"ca_file": "/nonexistent/ca.pem"}, "http.ca_file"),
        ({"ca_file": 5}, "http.ca_file"),
        ({"ssl_context": "yes"}, "http.ssl_context"),
        ({"trust_env": "no"}, "http.trust_env"),
        ({"ca_file": "x.pem", "ssl_context": ssl.create_default_context()}, "http.ca_file"),
    ],
)
def test_bad_settings_raise_config_error_naming_the_setting(
    kwargs: dict[str, object], setting: str
) -> None:
    with pytest.raises(ConfigError, match=setting.replace(".", r"\.")):
        HttpSettings(**kwargs)  # type: ignore[arg-type]


def test_unreadable_ca_bundle_and_client_checks(bad_pem: Path) -> None:
    with pytest.raises(ConfigError, match=r"http\.ca_file .* could not be loaded"):
        HttpSettings(ca_file=bad_pem)
    with pytest.raises(ConfigError, match="HttpSettings"):
        Client(http={"proxy": "http://p:1"})  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="own transport"):
        Client(http=HttpSettings(), transport=HttpTransport())


def test_proxy_password_is_never_shown() -> None:
    settings = HttpSettings(proxy="http://user:s3cret-pw@proxy.internal:3128")
    assert "s3cret-pw" not in repr(settings)
    with pytest.raises(ConfigError) as err:
        HttpSettings(proxy="ftp://user:s3cret-pw@proxy.internal:3128")
    assert "s3cret-pw" not in str(err.value)


async def test_proxy_failure_message_hides_the_proxy_password(host: DatafileHost) -> None:
    # a proxy that refuses connections: port of a server just closed
    async with ForwardProxy() as gone:
        dead = gone.url
    proxy = dead.replace("http://", "http://user:s3cret-pw@")
    transport = HttpTransport(settings=HttpSettings(proxy=proxy))
    try:
        with pytest.raises(TransportError) as err:
            await transport.get(host.url, timeout=10)
    finally:
        await transport.aclose()
    assert "s3cret-pw" not in str(err.value)
    assert host.gets == 0
