"""A FastAPI app under uvicorn, run as a subprocess by ``test_graceful_shutdown.py``.

    python tests/integrations/uvicorn_runner.py --fd N    # env ASYNCEXP_INGEST_URL

It serves on the listening socket the test bound (inherited as fd ``N``), so
the test knows the port without a race. ``GET /work`` decides a flag, tracks one
analytics event, prints ``tracked <user id>`` and then holds the request open
until the test writes a line to stdin (or closes it): that is how the test
keeps requests in flight while it sends SIGTERM. The collector waits an hour
between sends, so events only leave with the shutdown flush.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import uvicorn
from fastapi import FastAPI

from asyncexp import BatchCollector, Client
from asyncexp.examples_data import example_datafile
from asyncexp.integrations.fastapi import AsyncexpClient, CurrentUser, asyncexp_lifespan

FLAG = "checkout_widget"
release = asyncio.Event()


def make_client() -> Client:
    url = os.environ["ASYNCEXP_INGEST_URL"]
    collector = BatchCollector(
        url,
        optimizely_events_url=f"{url}/v1/events",
        max_interval=3600.0,
        batch_size=100_000,
        max_queue_size=100_000,
    )
    return Client(datafile=example_datafile(), collector=collector, app_key="uvicorn-test")


async def release_on_stdin() -> None:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    await reader.readline()  # a line, or EOF if the test went away
    release.set()


@asynccontextmanager
async def app_lifespan(app: FastAPI) -> AsyncIterator[None]:
    watcher = asyncio.create_task(release_on_stdin())
    yield
    watcher.cancel()


app = FastAPI(lifespan=asyncexp_lifespan(make_client, lifespan=app_lifespan))


@app.get("/work")
async def work(user: CurrentUser, client: AsyncexpClient) -> dict[str, Any]:
    decision = user.decide(FLAG)
    client.track(user.user_id, "WorkDone", {"variation": decision.variation_key or "none"})
    print(f"tracked {user.user_id}", flush=True)
    await release.wait()
    return {"tracked": True, "user": user.user_id}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--fd", type=int, required=True)
    args = parser.parse_args()
    listener = socket.socket(fileno=args.fd)  # family and type come from the fd
    config = uvicorn.Config(app, lifespan="on", log_level="info", timeout_graceful_shutdown=None)
    uvicorn.Server(config).run(sockets=[listener])


if __name__ == "__main__":
    main()
