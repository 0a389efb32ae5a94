"""``asyncexp config``: the project-config view of a datafile, printed as JSON.

The output is ``client.get_config().to_dict()``: the camelCase
OptimizelyConfig object model (``revision``, ``sdkKey``, ``environmentKey``,
``experimentsMap``, ``featuresMap``, ``attributes``, ``audiences``,
``events``). ``sdkKey`` is the datafile's own field, printed as the datafile has it.
"""

from __future__ import annotations

import argparse
import asyncio
from functools import partial
from typing import Any

from asyncexp.cli._base import CliError, CliParser, describe, print_json
from asyncexp.cli._source import add_source_options, check_source_options, open_client

__all__ = ["register"]


def register(commands: Any, parents: list[argparse.ArgumentParser]) -> None:
    """Add the ``config`` subcommand to ``commands`` (an argparse subparsers object)."""
    parser: CliParser = commands.add_parser(
        "config",
        parents=parents,
        help="print the project-config view of a datafile as JSON",
        description=describe(__doc__),
    )
    add_source_options(parser)
    parser.add_argument("--compact", action="store_true", help="print the JSON on one line")
    parser.set_defaults(func=run, check=partial(check_source_options, parser))


async def _config(args: argparse.Namespace) -> dict[str, Any]:
    async with open_client(args) as client:
        view = client.get_config()
        if view is None:  # open_client only returns once a datafile is loaded
            raise CliError("no datafile")
        return view.to_dict()


def run(args: argparse.Namespace) -> int:
    """Run ``config``; returns the exit status."""
    print_json(asyncio.run(_config(args)), compact=args.compact)
    return 0
