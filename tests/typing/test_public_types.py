"""``mypy --strict`` accepts the typed usage file and reports the deliberate errors.

mypy runs in a subprocess on each file with ``--follow-imports=silent``: the
package's own modules are type-checked by ``mypy asyncexp`` (CI); here only the
user's side of the API is judged, so an error inside asyncexp does not hide or
fake a result in these files.
"""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).parent
ROOT = HERE.parent.parent

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("mypy") is None, reason="mypy is not installed"
)


def _mypy(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "mypy",
            "--strict",
            "--follow-imports=silent",
            "--no-error-summary",
            "--show-error-codes",
            "--cache-dir",
            str(ROOT / ".mypy_cache" / "typing-tests"),
            str(path.relative_to(ROOT)),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_the_usage_file_passes_mypy_strict() -> None:
    result = _mypy(HERE / "usage.py")
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == ""


def _expected(path: Path) -> dict[int, str]:
    expected: dict[int, str] = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        marker = re.match(r"\s*# expect: (.+)$", line)
        if marker:
            expected[number + 1] = marker.group(1)
    return expected


def test_the_deliberate_errors_fail_mypy_with_their_messages() -> None:
    path = HERE / "usage_errors.py"
    expected = _expected(path)
    assert len(expected) >= 8  # the markers were read
    result = _mypy(path)
    assert result.returncode == 1, result.stdout + result.stderr
    reported: dict[int, list[str]] = {}
    for line in result.stdout.splitlines():
        found = re.match(r"[^:]+:(\d+): error: (.+)$", line)
        assert found, f"unexpected mypy output: {line}"
        reported.setdefault(int(found.group(1)), []).append(found.group(2))
    assert sorted(reported) == sorted(expected), result.stdout
    for number, text in expected.items():
        assert any(text in message for message in reported[number]), (number, reported[number])
