"""``asyncexp relay``: ship a Redis stream of events to the ingestion servers.

Reads the stream a ``RedisStreamCollector`` appends to (``--stream``) through
a consumer group (``--group``; several relays share one, each entry goes to
one of them) and sends Analysys records to ``URL/up`` and Optimizely event
batches to their events endpoint (Optimizely's, one given with
``--allow-events-url``, or every one to ``--optimizely-events-url``), with
retries (``Retry-After`` honoured) and gzip. An entry is acknowledged
(``XACK``, then ``XDEL``) only after the server acknowledged it; entries a
relay left pending for ``--claim-idle`` seconds (it died) are claimed by
another. Refused batches go to the dead-letter stream ``STREAM:dead``.

Runs until SIGINT or SIGTERM. Every ``--status-interval`` seconds one line
of counters goes to stderr (delivered, retried, claimed, rejected, pending,
backlog, lag) and, with ``--status-file``, the same counters as a JSON object
replace the file's content (written to a temporary file and renamed). Exit
status 0 after a clean stop.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
from contextlib import suppress
from pathlib import Path
from typing import Any

import orjson

from asyncexp.cli._base import CliParser, describe, positive_float, positive_int

__all__ = ["register", "status_line"]


def register(commands: Any, parents: list[argparse.ArgumentParser]) -> None:
    """Add the ``relay`` subcommand to ``commands`` (an argparse subparsers object)."""
    parser: CliParser = commands.add_parser(
        "relay",
        parents=parents,
        help="ship a Redis stream of events (RedisStreamCollector) to the ingestion servers",
        description=describe(__doc__),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--redis-url", required=True, help="redis://[:password@]host:port/db")
    parser.add_argument("--url", help="the Analysys server (records go to URL/up)")
    parser.add_argument(
        "--optimizely-events-url",
        dest="events_url",
        help="send every Optimizely batch here (default: the endpoint each entry names)",
    )
    parser.add_argument(
        "--allow-events-url",
        action="append",
        default=[],
        metavar="URL",
        help="an events URL entries may name besides Optimizely's US and EU endpoints "
        "(repeatable; entries naming any other URL are dead-lettered)",
    )
    parser.add_argument("--stream", default="asyncexp:events", help="(default: %(default)s)")
    parser.add_argument("--group", default="asyncexp-relay", help="(default: %(default)s)")
    parser.add_argument("--consumer", help="this relay's name in the group (default: host-pid)")
    parser.add_argument(
        "--encoding", choices=("gzip", "json"), default="gzip", help="(default: %(default)s)"
    )
    parser.add_argument(
        "--concurrency", type=positive_int, default=4, help="requests at once (default: 4)"
    )
    parser.add_argument(
        "--max-request-items", type=positive_int, default=1000, help="(default: %(default)s)"
    )
    parser.add_argument(
        "--read-count", type=positive_int, default=20, help="entries per read (default: 20)"
    )
    parser.add_argument(
        "--claim-idle",
        type=positive_float,
        default=30.0,
        help="seconds an entry stays pending before another relay claims it (default: 30)",
    )
    parser.add_argument(
        "--claim-interval", type=positive_float, default=5.0, help="(default: %(default)s)"
    )
    parser.add_argument(
        "--request-timeout", type=positive_float, default=10.0, help="(default: %(default)s)"
    )
    parser.add_argument(
        "--keep-acked",
        action="store_true",
        help="do not XDEL acknowledged entries (other consumer groups read the stream too)",
    )
    parser.add_argument(
        "--status-interval", type=positive_float, default=5.0, help="(default: %(default)s)"
    )
    parser.add_argument("--status-file", type=Path, help="write the counters here as JSON")
    parser.set_defaults(func=run)


def status_line(status: dict[str, Any]) -> str:
    """The stderr line of one status."""
    fields = ("delivered", "retried", "claimed", "rejected", "pending", "backlog", "lag")
    parts = " ".join(f"{name}={status.get(name)}" for name in fields)
    error = status.get("last_error")
    return f"asyncexp relay {status.get('consumer')}: {parts}" + (
        f" last_error={error}" if error else ""
    )


def _write_status(path: Path, status: dict[str, Any]) -> None:
    temp = path.with_name(f".{path.name}.tmp")
    temp.write_bytes(orjson.dumps(status) + b"\n")
    os.replace(temp, path)


async def _relay(args: argparse.Namespace) -> None:
    from asyncexp.stores.redis_relay import StreamRelay

    async def on_status(status: dict[str, Any]) -> None:
        print(status_line(status), file=sys.stderr, flush=True)
        if args.status_file is not None:
            try:
                await asyncio.to_thread(_write_status, args.status_file, status)
            except OSError as exc:
                print(f"asyncexp relay: cannot write {args.status_file}: {exc}", file=sys.stderr)

    relay = StreamRelay(
        args.redis_url,
        url=args.url,
        stream=args.stream,
        group=args.group,
        consumer=args.consumer,
        optimizely_events_url=args.events_url,
        allowed_events_urls=args.allow_events_url,
        encoding=args.encoding,
        request_timeout=args.request_timeout,
        read_count=args.read_count,
        max_request_items=args.max_request_items,
        concurrency=args.concurrency,
        claim_idle=args.claim_idle,
        claim_interval=args.claim_interval,
        delete_acked=not args.keep_acked,
        status_interval=args.status_interval,
        on_status=on_status,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    signals = (signal.SIGINT, signal.SIGTERM)
    for sig in signals:
        with suppress(NotImplementedError):  # Windows: Ctrl-C raises KeyboardInterrupt
            loop.add_signal_handler(sig, stop.set)
    print(
        f"asyncexp relay {relay.consumer}: reading {args.stream!r} (group {args.group!r})",
        file=sys.stderr,
        flush=True,
    )
    try:
        await relay.run(stop)
    finally:
        for sig in signals:
            with suppress(NotImplementedError):
                loop.remove_signal_handler(sig)
    print(f"asyncexp relay {relay.consumer}: stopped", file=sys.stderr, flush=True)


def run(args: argparse.Namespace) -> int:
    """Run the relay until SIGINT or SIGTERM; returns the exit status."""
    asyncio.run(_relay(args))
    return 0
