"""``asyncexp serve``: a local ingestion server that writes what it receives.

Runs the ``IngestionServer`` of ``asyncexp.testing`` (Analysys ``POST /up``,
Optimizely ``POST /v1/events``) until SIGINT or SIGTERM. The first line on
stdout is the base URL (``http://HOST:PORT``), flushed at once, so a script can
read it; ``--port 0`` (the default) picks a free port.

With ``--out DIR`` every accepted Analysys record is appended as one JSON line
to ``DIR/analysys.jsonl`` and every accepted Optimizely event batch to
``DIR/optimizely.jsonl`` (existing files are appended to). A body that does not
decode is refused as the real servers do (Analysys: code 400; Optimizely:
HTTP 400) and only counted. On shutdown everything received so far is
written, then a summary line goes to stderr; the exit status is 0.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from collections.abc import Callable
from contextlib import suppress
from functools import partial
from pathlib import Path
from typing import IO, Any

import orjson

from asyncexp.cli._base import CliError, CliParser, describe, logger
from asyncexp.testing import IngestionServer

__all__ = ["ANALYSYS_FILE", "OPTIMIZELY_FILE", "register"]

ANALYSYS_FILE = "analysys.jsonl"
OPTIMIZELY_FILE = "optimizely.jsonl"


def register(commands: Any, parents: list[argparse.ArgumentParser]) -> None:
    """Add the ``serve`` subcommand to ``commands`` (an argparse subparsers object)."""
    parser: CliParser = commands.add_parser(
        "serve",
        parents=parents,
        help="run a local ingestion server (Analysys /up and Optimizely /v1/events)",
        description=describe(__doc__),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--host", default="127.0.0.1", help="the address to listen on (default: %(default)s)"
    )
    parser.add_argument(
        "--port", type=int, default=0, help="the port; 0 picks a free one (default: %(default)s)"
    )
    parser.add_argument(
        "--out", type=Path, metavar="DIR", help="append what is received to JSON lines in DIR"
    )
    parser.set_defaults(func=run, check=partial(_check, parser))


def _check(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    if not 0 <= args.port <= 65535:
        parser.error(f"--port must be between 0 and 65535, got {args.port}")


class _Recorder:
    """Moves what the server accepted into the output files and keeps the counts.

    The server keeps every request in memory; draining its lists after each
    request keeps a long-running ``serve`` from growing.
    """

    def __init__(self, server: IngestionServer, out: Path | None) -> None:
        self.server = server
        self.records = self.batches = self.rejected = 0
        self._files: dict[str, IO[bytes]] = {}
        if out is not None:
            try:
                out.mkdir(parents=True, exist_ok=True)
                for name in (ANALYSYS_FILE, OPTIMIZELY_FILE):
                    self._files[name] = (out / name).open("ab")
            except OSError as exc:
                self.close()
                raise CliError(f"cannot write to {out}: {exc.strerror or exc}") from None

    def drain(self) -> None:
        """Write and forget everything received so far (no await: atomic on the loop)."""
        server = self.server
        for request in server.requests:
            if not (200 <= request.reply.status <= 299 and request.reply.code in (200, None)):
                self.rejected += 1
                logger.warning(
                    "POST %s: rejected a body that does not decode (%d bytes)",
                    request.path,
                    len(request.raw),
                )
            elif request.kind == "analysys":
                logger.info("POST %s: %d record(s)", request.path, len(request.payload))
            else:
                logger.info(
                    "POST %s: %d visitor(s)", request.path, len(request.payload["visitors"])
                )
        server.requests.clear()
        self._write(ANALYSYS_FILE, server.records)
        self._write(OPTIMIZELY_FILE, server.event_batches)
        self.records += len(server.records)
        self.batches += len(server.event_batches)
        server.records.clear()
        server.event_batches.clear()

    def _write(self, name: str, items: list[dict[str, Any]]) -> None:
        file = self._files.get(name)
        if file is None or not items:
            return
        # Small appends to local files: writing on the loop keeps drain() atomic.
        file.write(b"".join(orjson.dumps(item, option=orjson.OPT_APPEND_NEWLINE) for item in items))
        file.flush()

    async def pump(self) -> None:
        """Drain after every request, until cancelled."""
        while True:
            await self.server.wait_until(_more_than(self.server.request_count))
            self.drain()

    def close(self) -> None:
        for file in self._files.values():
            file.close()


def _more_than(seen: int) -> Callable[[IngestionServer], bool]:
    return lambda server: server.request_count > seen


async def _serve(args: argparse.Namespace) -> None:
    server = IngestionServer(host=args.host, port=args.port)
    recorder = _Recorder(server, args.out)
    try:
        try:
            await server.start()
        except OSError as exc:
            raise CliError(f"cannot listen on {args.host}:{args.port}: {exc}") from None
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        signals = (signal.SIGINT, signal.SIGTERM)
        for sig in signals:
            with suppress(NotImplementedError):  # Windows: Ctrl-C raises KeyboardInterrupt
                loop.add_signal_handler(sig, stop.set)
        print(server.url, flush=True)
        where = f"writing to {args.out}" if args.out is not None else "not writing (no --out)"
        print(f"asyncexp serve: listening on {server.url}, {where}", file=sys.stderr, flush=True)
        pump = asyncio.create_task(recorder.pump())
        try:
            await stop.wait()
        finally:
            pump.cancel()
            await asyncio.gather(pump, return_exceptions=True)
            for sig in signals:
                with suppress(NotImplementedError):
                    loop.remove_signal_handler(sig)
            await server.aclose()  # lets requests in flight finish
            recorder.drain()
        print(
            f"asyncexp serve: stopped; received {recorder.records} Analysys record(s) and "
            f"{recorder.batches} Optimizely event batch(es); {recorder.rejected} request(s) "
            "rejected",
            file=sys.stderr,
            flush=True,
        )
    finally:
        await server.aclose()
        recorder.close()


def run(args: argparse.Namespace) -> int:
    """Run ``serve`` until SIGINT or SIGTERM; returns the exit status."""
    asyncio.run(_serve(args))
    return 0
