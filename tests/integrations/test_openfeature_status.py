"""The OpenFeature provider's status and events against a real datafile server:
READY only with a datafile, STALE / ERROR while the source fails, READY on recovery,
CONFIGURATION_CHANGED with ``flags_changed``, and one impression per flag per context."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from openfeature import api
from openfeature.evaluation_context import EvaluationContext
from openfeature.event import EventDetails, ProviderEvent
from openfeature.exception import ErrorCode, ProviderFatalError, ProviderNotReadyError
from openfeature.provider import ProviderStatus

from asyncexp import Client, ConfigError
from asyncexp.integrations.openfeature import AsyncExpProvider
from asyncexp.testing import CapturingCollector, DatafileBuilder
from tests.local_servers import DatafileHost

USER = EvaluationContext("user1", {"country": "US"})


def flags(revision: str = "1", *, label: str = "new", extra: bool = False) -> DatafileBuilder:
    builder = DatafileBuilder(revision=revision)
    banner = builder.flag("banner")
    banner.variable("label", "old").variable("size", 1).variable("price", 1.5)
    banner.variable("bold", False).variable("style", {"c": "red"})
    banner.variation("on", variables={"label": label, "size": 2})
    banner.serve("on")
    builder.flag("checkout").variation("on").serve("on")
    builder.flag("legacy").variation("on").serve("on")
    if extra:
        builder.flag("fresh").variation("on").serve("on")
    return builder


class Events:
    """OpenFeature events of the asyncexp provider, handed to the test's loop."""

    KINDS = (
        ProviderEvent.PROVIDER_READY,
        ProviderEvent.PROVIDER_STALE,
        ProviderEvent.PROVIDER_ERROR,
        ProviderEvent.PROVIDER_CONFIGURATION_CHANGED,
    )

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self.queue: asyncio.Queue[tuple[ProviderEvent, EventDetails]] = asyncio.Queue()
        self._handlers = [(kind, self._handler(kind)) for kind in self.KINDS]
        for kind, handler in self._handlers:
            api.add_handler(kind, handler)

    def _handler(self, kind: ProviderEvent) -> Any:
        def handle(details: EventDetails) -> None:  # an OpenFeature worker thread
            if details.provider_name == "asyncexp":
                self._loop.call_soon_threadsafe(self.queue.put_nowait, (kind, details))

        return handle

    async def next(self) -> tuple[ProviderEvent, EventDetails]:
        async with asyncio.timeout(30):  # a safety net, not a timing assertion
            return await self.queue.get()

    def remove(self) -> None:
        for kind, handler in self._handlers:
            with contextlib.suppress(ValueError):  # api.shutdown() may have dropped it
                api.remove_handler(kind, handler)


@pytest.fixture(autouse=True)
def _openfeature_api() -> Iterator[None]:
    api.shutdown()
    yield
    api.shutdown()


@pytest.fixture
async def events() -> AsyncIterator[Events]:
    recorder = Events(asyncio.get_running_loop())
    yield recorder
    recorder.remove()


@pytest.fixture
async def host() -> AsyncIterator[DatafileHost]:
    async with DatafileHost(flags().build()) as server:
        yield server


def polling_client(host: DatafileHost, **kw: Any) -> Client:
    # polls only when the test says (refresh); the first fetch happens at start
    return Client(datafile_url=host.url, update_interval=3600, **kw)


def status() -> ProviderStatus:
    return api.get_client().get_provider_status()


async def set_provider(provider: AsyncExpProvider) -> None:
    """As an application does: initialize runs off the event loop."""
    await asyncio.to_thread(api.set_provider_and_wait, provider)


async def test_ready_after_the_first_datafile_and_never_before(host: DatafileHost) -> None:
    host.failing = True
    async with polling_client(host, ready_timeout=0) as client:
        assert client.config is None
        with pytest.raises(ProviderNotReadyError, match="no datafile within 0s"):
            await set_provider(AsyncExpProvider(client, init_timeout=0))
        assert status() == ProviderStatus.ERROR  # not READY: nothing could be evaluated
        details = api.get_client().get_boolean_details("checkout", False, USER)
        assert details.error_code == ErrorCode.PROVIDER_NOT_READY

        api.shutdown()
        waiting = asyncio.create_task(set_provider(AsyncExpProvider(client, init_timeout=60)))
        host.failing = False
        await client.refresh()
        await waiting  # initialize returned once the datafile arrived: READY
        assert status() == ProviderStatus.READY
        assert api.get_client().get_boolean_value("checkout", False, USER) is True


async def test_ready_event_when_the_first_datafile_arrives_late(
    host: DatafileHost, events: Events
) -> None:
    host.failing = True
    async with polling_client(host, ready_timeout=0) as client:
        with pytest.raises(ProviderNotReadyError):
            await set_provider(AsyncExpProvider(client, init_timeout=0))
        kind, _ = await events.next()
        assert kind == ProviderEvent.PROVIDER_ERROR  # the SDK's, for the failed initialize
        await client.refresh()  # still failing, no datafile: stays ERROR, nothing new
        host.failing = False
        await client.refresh()
        kind, details = await events.next()
        assert kind == ProviderEvent.PROVIDER_READY
        assert details.metadata == {"revision": "1"}
        assert status() == ProviderStatus.READY


async def test_stale_then_error_while_failing_and_ready_on_recovery(
    host: DatafileHost, events: Events
) -> None:
    async with polling_client(host) as client:
        await set_provider(AsyncExpProvider(client, error_after_failures=3))
        assert (await events.next())[0] == ProviderEvent.PROVIDER_READY
        host.failing = True
        await client.refresh()
        kind, details = await events.next()
        assert kind == ProviderEvent.PROVIDER_STALE
        assert details.message is not None
        assert "http_503" in details.message
        assert status() == ProviderStatus.STALE
        # the last good datafile keeps answering
        assert api.get_client().get_string_value("banner.label", "x", USER) == "new"
        await client.refresh()  # second failure: still STALE, no new event
        await client.refresh()  # third: ERROR
        kind, details = await events.next()
        assert kind == ProviderEvent.PROVIDER_ERROR
        assert details.error_code == ErrorCode.GENERAL
        assert status() == ProviderStatus.ERROR
        assert api.get_client().get_string_value("banner.label", "x", USER) == "new"
        host.failing = False
        await client.refresh()
        kind, _ = await events.next()
        assert kind == ProviderEvent.PROVIDER_READY
        assert status() == ProviderStatus.READY
        assert events.queue.empty()


async def test_configuration_changed_names_the_changed_flags(
    host: DatafileHost, events: Events
) -> None:
    async with polling_client(host) as client:
        await set_provider(AsyncExpProvider(client))
        assert (await events.next())[0] == ProviderEvent.PROVIDER_READY
        new = flags("2", label="newer", extra=True).build()
        new["featureFlags"] = [f for f in new["featureFlags"] if f["key"] != "legacy"]
        host.datafile = new
        await client.refresh()
        kind, details = await events.next()
        assert kind == ProviderEvent.PROVIDER_CONFIGURATION_CHANGED
        # banner: a variable value; legacy: removed; fresh: added; checkout: untouched
        assert details.flags_changed == ["banner", "fresh", "legacy"]
        assert details.metadata == {"revision": "2"}
        host.set_revision("3")  # a new revision with the same flags
        await client.refresh()
        kind, details = await events.next()
        assert kind == ProviderEvent.PROVIDER_CONFIGURATION_CHANGED
        assert details.flags_changed == []


async def test_owned_client_is_ready_only_after_it_started(
    host: DatafileHost, events: Events
) -> None:
    collector = CapturingCollector()
    client = polling_client(host, collector=collector)
    provider = AsyncExpProvider(client, owns_client=True)
    seen_at_ready: list[tuple[bool, bool]] = []
    ready_seen = threading.Event()

    def on_ready(details: EventDetails) -> None:  # what was true when READY came
        if details.provider_name == "asyncexp":
            seen_at_ready.append((collector.started, client.config is not None))
            ready_seen.set()

    api.add_handler(ProviderEvent.PROVIDER_READY, on_ready)
    await set_provider(provider)  # a worker thread: it waits for the start
    kind, _ = await events.next()
    assert kind == ProviderEvent.PROVIDER_READY
    assert await asyncio.to_thread(ready_seen.wait, 30)
    assert seen_at_ready == [(True, True)]
    assert host.gets == 1
    await asyncio.to_thread(api.shutdown)
    assert client.closed


async def test_fatal_when_nothing_can_ever_be_ready() -> None:
    closed = Client(datafile=flags().build())
    await closed.aclose()
    with pytest.raises(ProviderFatalError):
        await set_provider(AsyncExpProvider(closed))
    assert status() == ProviderStatus.FATAL
    api.shutdown()
    with pytest.raises(ProviderFatalError, match="no datafile source"):
        await set_provider(AsyncExpProvider(Client()))
    assert status() == ProviderStatus.FATAL


def test_static_datafile_is_ready_at_once() -> None:
    api.set_provider_and_wait(AsyncExpProvider(Client(datafile=flags().build())))
    assert status() == ProviderStatus.READY


def impressions(collector: CapturingCollector) -> list[str]:
    return [e.visitor["visitor_id"] for e in collector.events if e.kind == "impression"]


def read_five(context: EvaluationContext) -> None:
    of = api.get_client()
    assert of.get_string_value("banner.label", "", context) == "new"
    assert of.get_integer_value("banner.size", 0, context) == 2
    assert of.get_float_value("banner.price", 0.0, context) == 1.5
    assert of.get_boolean_value("banner.bold", True, context) is False
    assert of.get_object_value("banner.style", {}, context) == {"c": "red"}


def test_one_impression_per_flag_per_context_by_default() -> None:
    collector = CapturingCollector()
    client = Client(datafile=flags().build(), collector=collector)
    api.set_provider_and_wait(AsyncExpProvider(client))
    read_five(USER)
    assert impressions(collector) == ["user1"]
    read_five(EvaluationContext("user1", {"country": "FR"}))  # another context
    read_five(EvaluationContext("user2"))
    assert impressions(collector) == ["user1", "user1", "user2"]
    api.get_client().get_boolean_value("checkout", False, USER)  # another flag
    assert impressions(collector) == ["user1", "user1", "user2", "user1"]


def test_every_read_mode_sends_one_impression_per_resolution() -> None:
    collector = CapturingCollector()
    client = Client(datafile=flags().build(), collector=collector)
    api.set_provider_and_wait(AsyncExpProvider(client, impressions="every_read"))
    read_five(USER)
    assert impressions(collector) == ["user1"] * 5


async def test_a_new_revision_sends_the_impression_again(host: DatafileHost) -> None:
    collector = CapturingCollector()
    async with polling_client(host, collector=collector) as client:
        await set_provider(AsyncExpProvider(client))
        read_five(USER)
        read_five(USER)
        assert impressions(collector) == ["user1"]
        host.set_revision("2")
        await client.refresh()
        read_five(USER)
        assert impressions(collector) == ["user1", "user1"]


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"init_timeout": -1}, "init_timeout"),
        ({"init_timeout": "5"}, "init_timeout"),
        ({"error_after_failures": 0}, "error_after_failures"),
        ({"impressions": "sometimes"}, "impressions"),
    ],
)
def test_bad_options_raise_config_error(kwargs: dict[str, Any], name: str) -> None:
    with pytest.raises(ConfigError, match=name):
        AsyncExpProvider(Client(datafile=flags().build()), **kwargs)


async def test_initialize_on_the_loop_thread_never_blocks_it(
    host: DatafileHost, events: Events
) -> None:
    host.failing = True
    async with polling_client(host, ready_timeout=0) as client:
        # called from the loop itself (with a huge bound): it cannot wait, so it says so
        with pytest.raises(ProviderNotReadyError, match="could not wait"):
            api.set_provider_and_wait(AsyncExpProvider(client, init_timeout=3600))
        assert (await events.next())[0] == ProviderEvent.PROVIDER_ERROR
        host.failing = False
        await client.refresh()
        assert (await events.next())[0] == ProviderEvent.PROVIDER_READY
