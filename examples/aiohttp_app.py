"""aiohttp.web with asyncexp: one call ties the client to the app's lifecycle.

Run it offline: ``python examples/aiohttp_app.py``. A local ingestion server on
127.0.0.1 (``asyncexp.testing.IngestionServer``) stands in for the analytics
collector and the Optimizely events API. The app serves ``GET /checkout`` on
127.0.0.1 (an ephemeral port); the script calls it for a few users, prints
their decisions, then shuts the app down the way ``web.run_app`` does on
SIGTERM: in-flight handlers finish, then the client closes and flushes every
queue. Last, it prints what the ingestion server received.

In a real service, ``web.run_app(build_app(url))`` is all it takes.
"""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
from aiohttp import web

from asyncexp import BatchCollector, Client
from asyncexp.examples_data import example_datafile
from asyncexp.integrations.aiohttp import get_client, setup_client
from asyncexp.testing import IngestionServer

FLAG = "checkout_widget"
USERS = {"alice": "US", "bob": "DE", "carol": "BR"}


async def checkout(request: web.Request) -> web.Response:
    client = get_client(request)
    user_id = request.headers.get("X-User-Id")
    if not user_id:
        raise web.HTTPBadRequest(text="send the X-User-Id header")
    user = client.create_user_context(user_id, {"country": request.headers.get("X-Country")})
    decision = user.decide(FLAG)  # a plain call: no I/O, no await
    client.track(user_id, "CheckoutViewed", {"variation": decision.variation_key or "off"})
    body = {"user": user_id, "enabled": decision.enabled, "variation": decision.variation_key}
    return web.json_response(body)


def build_app(ingest_url: str) -> web.Application:
    def make_client() -> Client:  # called at startup, inside the running loop
        # The default 15 s batching interval: these few events leave with the shutdown flush.
        collector = BatchCollector(ingest_url, optimizely_events_url=f"{ingest_url}/v1/events")
        return Client(datafile=example_datafile(), collector=collector, app_key="shop")

    app = web.Application()
    setup_client(app, make_client, close_timeout=10.0)
    app.router.add_get("/checkout", checkout)
    return app


async def main() -> dict[str, Any]:
    """Serve, call, shut down; return the answers and what the ingestion server got."""
    async with IngestionServer() as ingest:
        runner = web.AppRunner(build_app(ingest.url))
        await runner.setup()  # runs the startup: the client starts here
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]
        answers = []
        try:
            async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as http:
                for user_id, country in USERS.items():
                    headers = {"X-User-Id": user_id, "X-Country": country}
                    url = f"http://127.0.0.1:{port}/checkout"
                    async with http.get(url, headers=headers) as response:
                        answer = await response.json()
                    answers.append(answer)
                    print(
                        f"{user_id:<6} {FLAG}: enabled={answer['enabled']} "
                        f"variation={answer['variation']}"
                    )
            print(f"before shutdown the ingestion server holds {len(ingest.records)} records")
        finally:
            await runner.cleanup()  # handlers finish, then the client closes and flushes
        records = list(ingest.records)
        impressions = ingest.event_count
    print(
        f"after shutdown it holds {len(records)} analytics records "
        f"({', '.join(sorted({r['xwhat'] for r in records}))}) and {impressions} impressions"
    )
    return {"answers": answers, "records": records, "impressions": impressions}


if __name__ == "__main__":
    asyncio.run(main())
