"""``--help`` everywhere, ``--version``, and usage errors: one line, exit status 2."""

from __future__ import annotations

from pathlib import Path

import pytest

from asyncexp import __version__
from asyncexp.cli import main
from tests.cli.helpers import run_cli

COMMANDS = ["decide", "config", "serve", "ship"]


async def test_top_level_help_lists_every_command() -> None:
    result = await run_cli("--help")
    assert result.code == 0, result.err
    assert result.out.startswith("usage: asyncexp")
    for command in COMMANDS:
        assert command in result.out


@pytest.mark.parametrize("command", COMMANDS)
async def test_each_command_has_help(command: str) -> None:
    result = await run_cli(command, "--help")
    assert result.code == 0, result.err
    assert result.out.startswith(f"usage: asyncexp {command}")
    assert result.err == ""


async def test_version() -> None:
    result = await run_cli("--version")
    assert (result.code, result.out.strip()) == (0, f"asyncexp {__version__}")


async def test_no_command_is_a_usage_error() -> None:
    line = (await run_cli()).assert_one_line_error(2)
    assert "COMMAND" in line


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["nope"], "invalid choice"),
        (["decide", "--user", "u"], "one of the arguments --datafile --sdk-key --datafile-url"),
        (["decide", "--datafile", "x", "--sdk-key", "k", "--user", "u"], "not allowed with"),
        (["decide", "--datafile", "x"], "--user"),
        (["config", "--datafile", "x", "--url-template", "http://h/{sdk_key}"], "needs --sdk-key"),
        (["config", "--sdk-key", "k", "--url-template", "http://h/x.json"], "{sdk_key}"),
        (["config", "--datafile-url", "ftp://h/x.json"], "http://"),
        (["config", "--datafile", "x", "--timeout", "0"], "--timeout"),
        (["serve", "--port", "70000"], "--port"),
        (["ship", "d"], "--url"),
        (["ship", "d", "--url", "h:1"], "http://"),
        (["ship", "d", "--url", "http://h", "--batch-size", "0"], "--batch-size"),
        (["ship", "d", "--url", "http://h", "--encoding", "zip"], "--encoding"),
    ],
)
async def test_usage_errors_are_one_line(args: list[str], expected: str) -> None:
    line = (await run_cli(*args)).assert_one_line_error(2)
    assert expected in line


def test_main_in_process_returns_the_status(
    capsys: pytest.CaptureFixture[str], datafile_path: Path
) -> None:
    assert main(["config", "--help"]) == 0
    assert "usage: asyncexp config" in capsys.readouterr().out
    assert main(["decide", "--datafile", str(datafile_path)]) == 2
    assert main(["config", "--datafile", str(datafile_path), "--compact"]) == 0
    assert capsys.readouterr().out.count("\n") == 1
