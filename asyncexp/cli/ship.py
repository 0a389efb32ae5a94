"""``asyncexp ship``: send LogCollector files to an ingestion server, resumably.

Sends the new lines of every ``datas_*.log`` in DIR to ``URL/up`` (the Analysys
wire format) in batches, and records in ``DIR/.asyncexp-ship.json`` what the
server acknowledged, so running it again sends only what is new: a file
shipped before is not re-sent, one that grew resumes where it stopped. Files
still being written are shipped up to their last complete line.

Lines that are not JSON objects are skipped with a warning naming the file and
line (``--strict``: stop before the first one instead, exit status 1).
The first batch the server refuses, or that still fails after the retries,
stops the run with exit status 1; what was acknowledged before stays recorded.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import sys
from functools import partial
from typing import Any

from asyncexp.aio.http import RetryPolicy
from asyncexp.cli._base import (
    CliError,
    CliParser,
    describe,
    non_negative_int,
    positive_float,
    positive_int,
)
from asyncexp.cli.shipping import ShipError, ShipProgress, ship_directory

__all__ = ["BarProgress", "LineProgress", "register"]


class LineProgress:
    """Plain progress lines on stderr: one per file shipped."""

    def begin(self, files: int, total_bytes: int) -> None:
        print(f"asyncexp ship: {files} file(s), {total_bytes} byte(s) to ship", file=sys.stderr)

    def advance(self, nbytes: int, records: int) -> None:
        pass

    def file_done(self, name: str, records: int, pending_bytes: int) -> None:
        left = f", {pending_bytes} byte(s) of an incomplete line left" if pending_bytes else ""
        print(f"asyncexp ship: {name}: {records} record(s) sent{left}", file=sys.stderr)

    def close(self) -> None:
        sys.stderr.flush()


class BarProgress:
    """A tqdm bar over the bytes to ship, on stderr."""

    def __init__(self, tqdm: Any) -> None:
        self._tqdm = tqdm
        self._bar: Any = None
        self._records = 0

    def begin(self, files: int, total_bytes: int) -> None:
        self._bar = self._tqdm(
            total=total_bytes,
            unit="B",
            unit_scale=True,
            desc=f"ship {files} file(s)",
            file=sys.stderr,
            disable=False,  # asked for explicitly (or stderr is a terminal)
        )

    def advance(self, nbytes: int, records: int) -> None:
        self._records += records
        # A str: tqdm formats numbers in postfixes with format_num (10000 -> "1e+4").
        self._bar.set_postfix_str(f"records={self._records}", refresh=False)
        self._bar.update(nbytes)

    def file_done(self, name: str, records: int, pending_bytes: int) -> None:
        pass

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()


def _progress(kind: str) -> ShipProgress | None:
    if kind == "none":
        return None
    if kind in ("auto", "bar"):
        try:
            # Untyped (no stubs): imported by name, used through Any.
            tqdm = importlib.import_module("tqdm").tqdm
        except ImportError:
            if kind == "bar":
                raise CliError(
                    "--progress bar needs tqdm: pip install 'asyncexp[cli]'", code=2
                ) from None
        else:
            if kind == "bar" or sys.stderr.isatty():
                return BarProgress(tqdm)
    return LineProgress()


def register(commands: Any, parents: list[argparse.ArgumentParser]) -> None:
    """Add the ``ship`` subcommand to ``commands`` (an argparse subparsers object)."""
    parser: CliParser = commands.add_parser(
        "ship",
        parents=parents,
        help="send LogCollector files (datas_*.log) to an ingestion server, resumably",
        description=describe(__doc__),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("directory", metavar="DIR", help="the LogCollector directory")
    parser.add_argument(
        "--url", required=True, help="the ingestion server's base URL; /up is appended"
    )
    parser.add_argument(
        "--batch-size",
        type=positive_int,
        default=100,
        metavar="N",
        help="records per request (default: %(default)s)",
    )
    parser.add_argument(
        "--encoding",
        choices=["gzip", "json"],
        default="gzip",
        help="request body: gzip+base64 or plain JSON (default: %(default)s)",
    )
    parser.add_argument(
        "--retries",
        type=non_negative_int,
        default=5,
        metavar="N",
        help="retries of a failed batch, with backoff (default: %(default)s)",
    )
    parser.add_argument(
        "--timeout",
        type=positive_float,
        default=30.0,
        metavar="SECONDS",
        help="per request (default: %(default)s)",
    )
    parser.add_argument(
        "--strict", action="store_true", help="stop at the first malformed line instead"
    )
    parser.add_argument(
        "--progress",
        choices=["auto", "bar", "lines", "none"],
        default="auto",
        help="auto: a tqdm bar on a terminal, else lines (default: %(default)s)",
    )
    parser.set_defaults(func=run, check=partial(_check, parser))


def _check(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    if not args.url.startswith(("http://", "https://")):
        parser.error(f"--url must start with http:// or https://, got {args.url!r}")


def run(args: argparse.Namespace) -> int:
    """Run ``ship``; returns the exit status."""
    progress = _progress(args.progress)
    try:
        report = asyncio.run(
            ship_directory(
                args.directory,
                args.url,
                batch_size=args.batch_size,
                encoding=args.encoding,
                retry=RetryPolicy(max_retries=args.retries),
                request_timeout=args.timeout,
                strict=args.strict,
                progress=progress,
            )
        )
    except ShipError as exc:
        raise CliError(str(exc)) from None
    skipped = f", {report.malformed} malformed line(s) skipped" if report.malformed else ""
    print(
        f"asyncexp ship: {report.records} record(s) sent in {report.requests} request(s) "
        f"from {report.files} file(s){skipped}",
        file=sys.stderr,
        flush=True,
    )
    if report.error is not None:
        raise CliError(report.error)
    return 0
