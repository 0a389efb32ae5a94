"""Where ``decide`` and ``config`` get their datafile: a file, or the network through ``Client``.

* ``--datafile FILE`` (``-`` for stdin): parsed on the spot, no network.
* ``--sdk-key KEY``: the vendor's CDN URL (``--vendor``), or ``--url-template``
  with ``{sdk_key}``; the access token for authenticated datafiles comes from the
  ``ASYNCEXP_DATAFILE_ACCESS_TOKEN`` environment variable, never from the command
  line (where ``ps`` and shell history would show it).
* ``--datafile-url URL``: any URL.

A network datafile is fetched once by the client's poller: the command fails at
the first failed fetch (it does not retry within ``--timeout``), with the
poller's reason in its error line, secrets redacted.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from pathlib import Path
from urllib.parse import urlsplit

from asyncexp.aio.datafile_source import VENDORS
from asyncexp.cli._base import CliError, positive_float
from asyncexp.client import Client
from asyncexp.errors import ConfigError

__all__ = ["TOKEN_ENV", "add_source_options", "check_source_options", "open_client", "secrets_of"]

TOKEN_ENV = "ASYNCEXP_DATAFILE_ACCESS_TOKEN"


def add_source_options(parser: argparse.ArgumentParser) -> None:
    """The datafile source options; exactly one of the first three is required."""
    group = parser.add_argument_group("datafile source (exactly one of the first three)")
    source = group.add_mutually_exclusive_group(required=True)
    source.add_argument(
        "--datafile", metavar="FILE", help="a datafile JSON file; '-' reads standard input"
    )
    source.add_argument(
        "--sdk-key", metavar="KEY", help="fetch the datafile of this SDK key over the network"
    )
    source.add_argument("--datafile-url", metavar="URL", help="fetch the datafile from this URL")
    group.add_argument(
        "--url-template",
        metavar="TEMPLATE",
        help="with --sdk-key: the URL to fetch, containing {sdk_key} (default: the vendor's CDN)",
    )
    group.add_argument(
        "--vendor",
        choices=sorted(VENDORS),
        default="optimizely",
        help="with --sdk-key: whose CDN serves the datafile (default: %(default)s)",
    )
    group.add_argument(
        "--timeout",
        type=positive_float,
        default=10.0,
        metavar="SECONDS",
        help="how long to wait for a network datafile (default: %(default)s)",
    )


def check_source_options(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Usage errors argparse cannot express on its own (exit status 2)."""
    if args.url_template is not None and args.sdk_key is None:
        parser.error("--url-template needs --sdk-key")
    if args.url_template is not None and "{sdk_key}" not in args.url_template:
        parser.error("--url-template must contain {sdk_key}")
    url = args.url_template or args.datafile_url
    if url is not None and not url.startswith(("http://", "https://")):
        parser.error("the datafile URL must start with http:// or https://")
    if args.sdk_key is not None and not args.sdk_key.strip():
        parser.error("--sdk-key must not be empty")


def secrets_of(args: argparse.Namespace) -> list[str]:
    """The values to redact from everything the command writes to stderr.

    The SDK key, the access token, and the password of any URL option
    (``http://user:password@host``), which error messages would otherwise repeat.
    """
    values = [getattr(args, "sdk_key", None), os.environ.get(TOKEN_ENV)]
    for name in ("url", "datafile_url", "url_template", "redis_url", "events_url"):
        url = getattr(args, name, None)
        if url:
            with suppress(ValueError):
                values.append(urlsplit(url).password)
    return [v for v in values if v]


def _read_datafile(name: str) -> bytes:
    try:
        if name == "-":
            return sys.stdin.buffer.read()
        return Path(name).read_bytes()
    except OSError as exc:
        raise CliError(f"cannot read the datafile {name}: {exc.strerror or exc}") from None


class _FetchWatch(logging.Handler):
    """Remembers the first warning of the datafile poller: the first fetch failed."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.failed = asyncio.Event()
        self.message = ""
        self._loop = asyncio.get_running_loop()

    def emit(self, record: logging.LogRecord) -> None:
        if not self.message:
            self.message = record.getMessage()
            # Usually called on the loop's thread; call_soon_threadsafe is right either way.
            self._loop.call_soon_threadsafe(self.failed.set)


async def _start(client: Client, timeout: float) -> None:
    """Start ``client`` and wait for its first datafile; fail fast on a failed fetch."""
    watch = _FetchWatch()
    source_logger = logging.getLogger("asyncexp.datafile")
    source_logger.addHandler(watch)
    starting = asyncio.ensure_future(client.start())  # waits up to ready_timeout
    failing = asyncio.ensure_future(watch.failed.wait())
    try:
        await asyncio.wait({starting, failing}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        source_logger.removeHandler(watch)
        for task in (starting, failing):
            task.cancel()
        await asyncio.gather(starting, failing, return_exceptions=True)
    if not starting.cancelled() and (error := starting.exception()) is not None:
        raise error
    if client.config is not None:
        return
    if watch.message:
        raise CliError(f"could not load the datafile: {watch.message}")
    raise CliError(f"no datafile arrived within {timeout:g}s")


@asynccontextmanager
async def open_client(args: argparse.Namespace) -> AsyncIterator[Client]:
    """A started client holding the datafile the options name; closed on exit."""
    if args.datafile is not None:
        text = _read_datafile(args.datafile)
        try:
            client = Client(datafile=text, odp_disabled=True)
        except ConfigError as exc:
            name = "from standard input" if args.datafile == "-" else args.datafile
            raise CliError(f"the datafile {name} is invalid: {exc}") from None
        async with client:
            yield client
        return
    try:
        client = Client(
            sdk_key=args.sdk_key,
            datafile_url=args.datafile_url,
            url_template=args.url_template,
            vendor=args.vendor,
            datafile_access_token=os.environ.get(TOKEN_ENV) or None,
            ready_timeout=args.timeout,
            request_timeout=args.timeout,
            odp_disabled=True,  # segments are never fetched by the CLI
        )
    except ConfigError as exc:
        raise CliError(str(exc)) from None
    try:
        await _start(client, args.timeout)
        yield client
    finally:
        await client.aclose()
