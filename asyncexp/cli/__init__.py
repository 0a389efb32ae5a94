"""The ``asyncexp`` command line (also ``python -m asyncexp``).

Subcommands: ``decide`` (flag decisions as JSON), ``config`` (the
project-config view as JSON), ``serve`` (a local ingestion server writing what
it receives), ``ship`` (LogCollector files to an ingestion server,
resumably) and ``relay`` (a RedisStreamCollector's stream to the ingestion
servers, through a consumer group). ``asyncexp COMMAND --help`` documents each.

Exit status: 0 success, 1 failure, 2 usage error, 130 interrupted. Every error
is one line on stderr, never a traceback (``-vvv`` shows library debug logs).

May import: anything in asyncexp except asyncexp.integrations
Never imported by: any other part of asyncexp except asyncexp.__main__
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from asyncexp.cli import config, decide, relay, serve, ship
from asyncexp.cli._base import (
    EXIT_FAILURE,
    CliError,
    CliParser,
    Redactor,
    cli_logging,
    describe,
)
from asyncexp.cli._source import secrets_of
from asyncexp.errors import AsyncExpError

__all__ = ["build_parser", "main"]

EXIT_INTERRUPTED = 130


def build_parser() -> CliParser:
    """The parser of every subcommand."""
    from asyncexp import __version__  # the package imports nothing from the CLI

    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "-v",
        "--verbose",
        action="count",
        default=0,
        help="show library logs: -v warnings, -vv info, -vvv debug",
    )
    parser = CliParser(
        prog="asyncexp",
        description=describe(__doc__),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"asyncexp {__version__}")
    # Also before the command (asyncexp -v decide ...); a separate dest, because the
    # subcommand's default would overwrite a shared one. main() adds the two counts.
    parser.add_argument(
        "-v",
        "--verbose",
        action="count",
        default=0,
        dest="verbose_before_command",
        help="show library logs (also accepted after the command)",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module in (decide, config, serve, ship, relay):
        module.register(commands, [common])
    return parser


def _run(args: argparse.Namespace, redact: Redactor) -> int:
    try:
        return int(args.func(args))
    except CliError as exc:
        _error(args, redact(str(exc)))
        return exc.code
    except AsyncExpError as exc:
        _error(args, redact(f"{type(exc).__name__}: {exc}"))
        return EXIT_FAILURE
    except BrokenPipeError:
        raise  # handled in main, without a message: nobody is reading
    except OSError as exc:
        _error(args, redact(str(exc)))
        return EXIT_FAILURE


def _error(args: argparse.Namespace, message: str) -> None:
    print(f"asyncexp {args.command}: error: {message}", file=sys.stderr, flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line with ``argv`` (default ``sys.argv[1:]``); returns the exit status."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version and usage errors
        return exc.code if isinstance(exc.code, int) else EXIT_FAILURE
    args.verbose = args.verbose + args.__dict__.pop("verbose_before_command", 0)
    try:
        # The checks argparse cannot express; parser.error exits with status 2.
        check = getattr(args, "check", None)
        if check is not None:
            check(args)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else EXIT_FAILURE
    redact = Redactor(secrets_of(args))
    try:
        with cli_logging(args.verbose, redact):
            return _run(args, redact)
    except KeyboardInterrupt:
        print(f"asyncexp {args.command}: interrupted", file=sys.stderr, flush=True)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # The reader went away (e.g. `| head`): silence the flush at interpreter exit.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_FAILURE
