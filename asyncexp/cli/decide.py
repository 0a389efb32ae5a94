"""``asyncexp decide``: flag decisions for one user, printed as JSON.

The output is one JSON object mapping each flag key to its decision in the
reference's ``as_json()`` shape (``Decision.as_dict()``: ``variation_key``,
``enabled``, ``variables``, ``rule_key``, ``flag_key``, ``user_context``,
``reasons``), every flag of the datafile in datafile order unless ``--flag``
names some. No impression is sent: the CLI has no collector.
"""

from __future__ import annotations

import argparse
import asyncio
import json
from functools import partial
from typing import Any

from asyncexp.cli._base import CliParser, describe, logger, print_json
from asyncexp.cli._source import add_source_options, check_source_options, open_client
from asyncexp.core.flags.decision_types import DecideOption

__all__ = ["ATTRIBUTE_RULES", "parse_attr", "parse_attr_json", "register"]

ATTRIBUTE_RULES = """\
attribute values:
  --attr KEY=VALUE       VALUE is a JSON number, true, false or null when it reads as
                         one (age=31, ratio=0.5, vip=true, note=null); anything else
                         is the text as given (country=US, zip=01234, tag="x" keeps
                         its quotes). Split at the first '='.
  --attr-json KEY=JSON   VALUE is any JSON value, for strings that look like numbers
                         (version='"1.2"') and for lists or objects.
  A key given twice keeps the last value.
"""


def _split(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    return key, value


def _reject_constant(name: str) -> Any:
    # NaN and Infinity are not JSON: they stay text rather than becoming floats.
    raise ValueError(name)


def parse_attr(text: str) -> tuple[str, Any]:
    """``KEY=VALUE`` with the typing rule of :data:`ATTRIBUTE_RULES`."""
    key, raw = _split(text)
    try:
        value = json.loads(raw, parse_constant=_reject_constant)
    except ValueError:
        return key, raw
    if value is None or isinstance(value, bool | int | float):
        return key, value
    return key, raw


def parse_attr_json(text: str) -> tuple[str, Any]:
    """``KEY=JSON``: the value is decoded as JSON, whatever its type."""
    key, raw = _split(text)
    try:
        return key, json.loads(raw, parse_constant=_reject_constant)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{key}: not a JSON value: {exc}") from None


def register(commands: Any, parents: list[argparse.ArgumentParser]) -> None:
    """Add the ``decide`` subcommand to ``commands`` (an argparse subparsers object)."""
    parser: CliParser = commands.add_parser(
        "decide",
        parents=parents,
        help="decide flags for one user and print the decisions as JSON",
        description=describe(__doc__),
        epilog=ATTRIBUTE_RULES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_source_options(parser)
    parser.add_argument("--user", required=True, metavar="USER_ID", help="the user id")
    parser.add_argument(
        "--attr",
        dest="attributes",
        action="append",
        type=parse_attr,
        default=[],
        metavar="KEY=VALUE",
        help="a user attribute (repeatable; typing rule below)",
    )
    parser.add_argument(
        "--attr-json",
        dest="attributes",
        action="append",
        type=parse_attr_json,
        metavar="KEY=JSON",
        help="a user attribute whose value is JSON (repeatable)",
    )
    parser.add_argument(
        "--flag",
        dest="flags",
        action="append",
        metavar="KEY",
        help="decide this flag (repeatable; default: every flag)",
    )
    parser.add_argument(
        "--reasons", action="store_true", help="include the decision reasons (INCLUDE_REASONS)"
    )
    parser.add_argument(
        "--option",
        dest="options",
        action="append",
        default=[],
        choices=[o.value for o in DecideOption],
        metavar="OPTION",
        help="a decide option (repeatable): " + ", ".join(o.value for o in DecideOption),
    )
    parser.add_argument("--compact", action="store_true", help="print the JSON on one line")
    parser.set_defaults(func=run, check=partial(check_source_options, parser))


async def _decide(args: argparse.Namespace) -> dict[str, Any]:
    options = list(dict.fromkeys(args.options))
    if args.reasons:
        options.append(DecideOption.INCLUDE_REASONS.value)
    async with open_client(args) as client:
        user = client.create_user_context(args.user, dict(args.attributes))
        if args.flags:
            config = client.config
            for key in dict.fromkeys(args.flags):
                if config is not None and key not in config.flags:
                    # The decision still says so in its reasons; a typo should not pass quietly.
                    logger.warning("no flag %r in the datafile", key)
            decisions = user.decide_for_keys(list(dict.fromkeys(args.flags)), options)
        else:
            decisions = user.decide_all(options)
        return {key: decision.as_dict() for key, decision in decisions.items()}


def run(args: argparse.Namespace) -> int:
    """Run ``decide``; returns the exit status."""
    print_json(asyncio.run(_decide(args)), compact=args.compact)
    return 0
