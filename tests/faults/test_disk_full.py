"""Disk full (ENOSPC) for the spool and for LogCollector, on a real 256 KiB tmpfs.

Each scenario runs in a child process (:mod:`tests.faults.disk_full_child`)
inside a private mount namespace (``unshare -m``) where a 256 KiB tmpfs is
mounted over a temporary directory, so the kernel itself answers ``ENOSPC``;
nothing outside the child sees the mount. Without the right to do that (not
root, no ``unshare``, a container that forbids mounts) the tests are skipped
with the reason.

What must hold when the disk fills up:

* spool: every record is either in a complete spool file or counted as dropped
  (``spool_error``); no temporary file is left behind; everything that was
  written is re-sent by the next collector, once, and nothing else arrives;
* LogCollector: every record is either a complete line or counted as dropped;
  no file ends in a partial line, every line parses.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
TMPFS_SIZE = "256k"


def run_on_small_tmpfs(scenario: str, mount_point: Path) -> dict[str, Any]:
    if shutil.which("unshare") is None:
        pytest.skip("needs util-linux unshare to mount a private tmpfs")
    script = (
        'mount -t tmpfs -o size="$1" tmpfs "$2" || exit 77; '
        'exec "$3" -m tests.faults.disk_full_child "$4" "$2"'
    )
    command = ["unshare", "-m", "sh", "-c", script, "sh", TMPFS_SIZE, str(mount_point)]
    done = subprocess.run(
        [*command, sys.executable, scenario],
        cwd=ROOT,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin:/usr/sbin:/sbin"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if done.returncode == 77 or (done.returncode != 0 and "unshare:" in done.stderr):
        pytest.skip(f"cannot mount a private tmpfs here: {done.stderr.strip()[-300:]}")
    assert done.returncode == 0, done.stderr[-3000:]
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def test_a_full_disk_under_the_spool_drops_only_what_it_could_not_write(
    tmp_path: Path,
) -> None:
    out = run_on_small_tmpfs("spool", tmp_path)
    first, second = out["first"], out["second"]
    assert first["produced"] == 20_000
    assert first["dropped"].keys() == {"spool_error"}  # the disk filled up
    assert first["spooled"] > 0  # until then it kept what it could
    assert first["spooled"] + first["dropped"]["spool_error"] == first["produced"]
    assert first["queued"] == first["in_flight"] == 0
    # the disk's own error reached the log (last_error may be the down server's instead)
    assert any("No space left on device" in m for m in out["spool_write_failures"])
    assert out["tmp_leftovers"] == []  # a failed write removes its temporary file
    assert out["files"] > 0
    # everything written was a complete file: the next collector re-sends all of it, once
    assert second["replayed"] == first["spooled"]
    assert second["spool_corrupt"] == 0
    assert len(out["acked"]) == first["spooled"]
    assert out["duplicates"] == 0
    assert out["left"] == 0


def test_a_full_disk_under_log_files_leaves_whole_lines_only(tmp_path: Path) -> None:
    out = run_on_small_tmpfs("log", tmp_path)
    stats = out["stats"]
    assert stats["produced"] == 20_000
    assert stats["dropped"].keys() == {"retries_exhausted"}  # writes failed with ENOSPC
    assert stats["delivered"] > 0
    assert stats["delivered"] + stats["dropped"]["retries_exhausted"] == stats["produced"]
    assert "No space left on device" in stats["last_error"]
    # what was counted delivered is on disk as whole lines; no torn or glued line
    assert out["torn_files"] == 0
    assert out["bad_lines"] == 0
    assert out["lines"] == out["unique"] == stats["delivered"]
