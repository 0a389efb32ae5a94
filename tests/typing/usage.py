"""A user's program written against the public API, checked with ``mypy --strict``.

Not run as a test (it is only type-checked, by ``test_public_types.py``): every
call here must type-check exactly as a user would write it, option shapes
included. Keep it free of ``Any`` and ``type: ignore``.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from quart import Quart

from asyncexp import (
    AppConfigOptions,
    BatchCollector,
    Client,
    CollectorStats,
    ConfigError,
    DecideOption,
    Decision,
    HttpSettings,
    LogCollector,
    NotificationType,
    OdpOptions,
    ProfileOptions,
    RealtimeCollector,
    RefreshResult,
    UserContext,
    Vendor,
)
from asyncexp.aio.http import RetryPolicy
from asyncexp.integrations import quart as quart_integration
from asyncexp.integrations.openfeature import AsyncExpProvider
from asyncexp.testing import CapturingCollector, DatafileBuilder


def build_datafile() -> str:
    builder = DatafileBuilder(revision="7")
    flag = builder.flag("checkout")
    flag.variable("label", "Buy").variable("discount", 0.0)
    flag.variation("off", enabled=False)
    flag.variation("on", variables={"label": "Buy now", "discount": 0.1})
    flag.serve("on")
    builder.event("purchase")
    return builder.to_json()


def odp_settings() -> OdpOptions:
    options: OdpOptions = {
        "cache_size": 1000,
        "cache_timeout": 60.0,
        "cache_bytes": None,
        "segments_timeout": 5,
        "event_batch_size": 20,
        "event_retry_policy": RetryPolicy(max_retries=1),
    }
    options["host"] = "https://api.zaius.com"
    return options


def appconfig_settings() -> AppConfigOptions:
    return {"region": "eu-west-1", "poll_interval": 30.0, "record_assignments": False}


def profile_settings(concurrency: int) -> ProfileOptions:
    options: ProfileOptions = {"load_timeout": 0.25, "load_batch_size": 50, "retry_max": 2}
    options["concurrency"] = concurrency
    options["close_timeout"] = 3.0
    return options


def make_client(vendor: Vendor, directory: Path) -> Client:
    collector = BatchCollector(
        "https://analytics.example.com",
        batch_size=50,
        max_interval=5.0,
        optimizely_events_url="https://events.example.com/v1/events",
        spool=directory / "spool",
    )
    return Client(
        sdk_key="sdk-key",
        vendor=vendor,
        update_interval=60,
        request_timeout=5.0,
        collector=collector,
        app_key="my-app",
        http=HttpSettings(trust_env=False),
        odp_options=odp_settings(),
        appconfig_options=appconfig_settings(),
        profile_options=profile_settings(8),
        default_decide_options=[DecideOption.INCLUDE_REASONS],
    )


def other_collectors(directory: Path) -> list[BatchCollector | RealtimeCollector | LogCollector]:
    return [
        RealtimeCollector("https://analytics.example.com", max_concurrency=4),
        LogCollector(directory, batch=True, batch_size=100, rotation="day"),
    ]


async def refresh_and_report(client: Client) -> str:
    result: RefreshResult = await client.refresh()
    if result is RefreshResult.REJECTED:
        return "the CDN served a datafile that was refused"
    if not result:
        return f"refresh {result.value}"
    stats: CollectorStats | None = client.collector_stats
    queued = 0 if stats is None else stats.queued
    return f"{result.value}; {queued} queued"


def quart_app(directory: Path) -> Quart:
    app = Quart(__name__)
    quart_integration.setup_client(app, lambda: make_client("optimizely", directory))

    @app.get("/")
    async def index() -> dict[str, str | None]:
        client: Client = quart_integration.get_client()
        return {"variation": client.create_user_context("u").decide("checkout").variation_key}

    return app


async def main(directory: Path) -> None:
    datafile = build_datafile()
    capture = CapturingCollector()
    client = Client(
        datafile=datafile, collector=capture, odp_options={"cache_size": 0}, odp_disabled=True
    )
    client.notifications.add_listener(NotificationType.DECISION, lambda *args: None)
    async with client:
        user: UserContext = client.create_user_context("u1", {"country": "US", "age": 30})
        decision: Decision = user.decide("checkout")
        label: object = decision.variables.get("label")
        enabled: bool = decision.enabled
        variation: str | None = decision.variation_key
        user.track_event("purchase", {"revenue": 100})
        all_decisions: dict[str, Decision] = user.decide_all()
        await client.flush()
        print(label, enabled, variation, len(all_decisions), len(capture.items))
    provider = AsyncExpProvider(client, init_timeout=2.0, impressions="every_read")
    print(provider.get_metadata().name)
    try:
        Client(sdk_key="k", odp_options={"cache_size": -1})
    except ConfigError as exc:
        print(exc)
    other = make_client("eyeofcloud", directory)
    print(other.closed, other_collectors(directory), quart_app(directory).name)


if __name__ == "__main__":
    asyncio.run(main(Path(".")))
