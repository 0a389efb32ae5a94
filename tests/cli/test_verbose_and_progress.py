"""`-v` before the command (`asyncexp -v decide …`) or after it; whole counts in the ship bar."""

from __future__ import annotations

from pathlib import Path

import pytest

from asyncexp.cli import build_parser
from tests.cli.helpers import run_cli


@pytest.mark.parametrize(
    ("argv", "level"),
    [
        (["decide", "--datafile", "d.json", "--user", "u"], 0),
        (["-v", "decide", "--datafile", "d.json", "--user", "u"], 1),
        (["decide", "-v", "--datafile", "d.json", "--user", "u"], 1),
        (["-vv", "decide", "-v", "--datafile", "d.json", "--user", "u"], 3),
        (["--verbose", "ship", "logs", "--url", "http://127.0.0.1:9"], 1),
    ],
)
def test_the_counts_before_and_after_the_command_add_up(argv: list[str], level: int) -> None:
    args = build_parser().parse_args(argv)
    assert args.verbose + args.verbose_before_command == level


async def test_verbose_before_the_command_shows_the_library_logs(datafile_path: Path) -> None:
    quiet = await run_cli("decide", "--datafile", str(datafile_path), "--user", "u")
    loud = await run_cli("-vv", "decide", "--datafile", str(datafile_path), "--user", "u")
    after = await run_cli("decide", "-vv", "--datafile", str(datafile_path), "--user", "u")
    assert quiet.code == loud.code == after.code == 0, (loud.err, after.err)
    assert quiet.err == ""
    assert loud.out == after.out == quiet.out
    assert loud.err.strip()  # info logs on stderr, the same as with -vv after the command
    assert sorted(_levels(loud.err)) == sorted(_levels(after.err))


def _levels(err: str) -> list[str]:
    return [line.split(" ", 1)[0] for line in err.strip().splitlines()]


@pytest.mark.parametrize("records", [9, 10_000, 1_234_567])
def test_the_progress_bar_shows_whole_record_counts(
    records: int, capsys: pytest.CaptureFixture[str]
) -> None:
    tqdm = pytest.importorskip("tqdm")
    from asyncexp.cli.ship import BarProgress

    bar = BarProgress(tqdm.tqdm)
    bar.begin(1, 2_000)
    bar.advance(1_000, records - 1)
    bar.advance(1_000, 1)
    bar.close()
    err = capsys.readouterr().err
    assert f"records={records}" in err
    assert "e+" not in err.split("records=")[-1]
