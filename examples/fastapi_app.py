"""FastAPI with asyncexp: the lifespan runs the client, dependencies hand out users.

Run it offline: ``python examples/fastapi_app.py`` (needs ``asyncexp[fastapi]``
and uvicorn). A local ingestion server on 127.0.0.1 stands in for the analytics
collector and the Optimizely events API. uvicorn serves the app on 127.0.0.1 (an
ephemeral port); the script searches as a few users, and once without a user
id (HTTP 400), then stops the server the way SIGTERM does: in-flight requests
finish, the app's own lifespan exits, then the client closes and flushes every
queue. Last, it prints what the ingestion server received.

In a real service: ``uvicorn examples.fastapi_app:app`` with ``build_app(url)``
assigned to ``app``.
"""

# No ``from __future__ import annotations``, as usual with FastAPI: the route
# signatures are read at runtime.
import asyncio
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

import aiohttp
import uvicorn
from fastapi import APIRouter, Depends, FastAPI, Request

from asyncexp import BatchCollector, Client, UserContext
from asyncexp.examples_data import example_datafile
from asyncexp.integrations.fastapi import (
    AsyncexpClient,
    UserContextDependency,
    asyncexp_lifespan,
)
from asyncexp.testing import IngestionServer

FLAG = "search_redesign"
USERS = {"dana": "US", "emil": "DE", "farah": "IN"}


def user_attributes(request: Request) -> dict[str, Any]:
    return {"country": request.headers.get("X-Country"), "device": "web"}


# The user id from the X-User-Id header (a missing one is a 400), attributes from the request.
current_user = UserContextDependency(header="X-User-Id", attributes=user_attributes)
router = APIRouter()


@router.get("/search")
async def search(
    q: str, user: Annotated[UserContext, Depends(current_user)], client: AsyncexpClient
) -> dict[str, Any]:
    decision = user.decide(FLAG)  # a plain call: no I/O, no await
    client.track(user.user_id, "Search", {"query": q, "redesign": decision.enabled})
    return {"user": user.user_id, "redesign": decision.enabled, "variation": decision.variation_key}


def build_app(ingest_url: str) -> FastAPI:
    def make_client() -> Client:  # called at startup, inside the running loop
        collector = BatchCollector(ingest_url, optimizely_events_url=f"{ingest_url}/v1/events")
        return Client(datafile=example_datafile(), collector=collector, app_key="search")

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # The application's own startup and shutdown; the client is already running.
        app.state.asyncexp.register_super_properties({"service": "search-api"})
        yield

    app = FastAPI(lifespan=asyncexp_lifespan(make_client, lifespan=lifespan, close_timeout=10.0))
    app.include_router(router)
    return app


async def main() -> dict[str, Any]:
    """Serve, call, shut down; return the answers and what the ingestion server got."""
    async with IngestionServer() as ingest:
        listener = socket.create_server(("127.0.0.1", 0))  # listening: requests can queue
        port = listener.getsockname()[1]
        config = uvicorn.Config(build_app(ingest.url), log_level="warning", lifespan="on")
        server = uvicorn.Server(config)
        serving = asyncio.create_task(server.serve(sockets=[listener]))
        answers = []
        try:
            async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as http:
                url = f"http://127.0.0.1:{port}/search"
                for user_id, country in [*USERS.items(), ("", "US")]:
                    headers = {"X-User-Id": user_id, "X-Country": country}
                    async with http.get(url, params={"q": "shoes"}, headers=headers) as response:
                        answer = {"status": response.status, **await response.json()}
                    answers.append(answer)
                    print(f"{user_id or '(none)':<6} -> {answer}")
            print(f"before shutdown the ingestion server holds {len(ingest.records)} records")
        finally:
            server.should_exit = True  # what SIGTERM does
            await serving
        records = list(ingest.records)
        impressions = ingest.event_count
    print(
        f"after shutdown it holds {len(records)} analytics records "
        f"({', '.join(sorted({r['xwhat'] for r in records}))}) and {impressions} impressions"
    )
    return {"answers": answers, "records": records, "impressions": impressions}


if __name__ == "__main__":
    asyncio.run(main())
