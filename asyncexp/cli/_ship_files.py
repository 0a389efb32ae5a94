"""The files side of ``asyncexp ship``: the resume state, the directory lock, reading lines.

See :mod:`asyncexp.cli.shipping` for the rules; this module does the blocking
file I/O (run it in a thread from async code).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import orjson

from asyncexp.aio import filelock
from asyncexp.errors import AsyncExpError

__all__ = [
    "FILE_PATTERN",
    "LOCK_FILE",
    "STATE_FILE",
    "Chunk",
    "FileState",
    "ShipError",
    "ShipState",
    "exclusive",
    "read_chunk",
]

STATE_FILE = ".asyncexp-ship.json"
LOCK_FILE = ".asyncexp-ship.lock"
FILE_PATTERN = "datas_*.log"
_VERSION = 1


class ShipError(AsyncExpError):
    """Shipping cannot start: no such directory, a bad state file, another run active."""


@dataclass
class FileState:
    """What was acknowledged (or skipped) of one file, for one destination."""

    offset: int = 0
    lines: int = 0
    records: int = 0
    malformed: int = 0


class ShipState:
    """The resume state of one directory (``.asyncexp-ship.json``, see the module rules)."""

    def __init__(self, path: Path, destinations: dict[str, dict[str, FileState]]) -> None:
        self.path = path
        self.destinations = destinations

    @classmethod
    def load(cls, directory: Path) -> ShipState:
        path = directory / STATE_FILE
        try:
            data = orjson.loads(path.read_bytes())
        except FileNotFoundError:
            return cls(path, {})
        except (OSError, orjson.JSONDecodeError) as exc:
            raise ShipError(f"cannot read {path}: {exc}; fix or delete it") from None
        try:
            if data["version"] != _VERSION:
                raise ValueError(f"version {data['version']!r}, expected {_VERSION}")
            destinations = {
                url: {name: FileState(**entry) for name, entry in files.items()}
                for url, files in data["destinations"].items()
            }
            for files in destinations.values():
                for entry in files.values():
                    if not all(type(v) is int and v >= 0 for v in asdict(entry).values()):
                        raise ValueError(f"bad counts {entry}")
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ShipError(f"{path} is not a valid state file ({exc}); fix or delete it") from None
        return cls(path, destinations)

    def file(self, url: str, name: str) -> FileState:
        """The entry of file ``name`` for destination ``url``, created when missing."""
        return self.destinations.setdefault(url, {}).setdefault(name, FileState())

    def save(self) -> None:
        data = {
            "version": _VERSION,
            "destinations": {
                url: {name: asdict(entry) for name, entry in sorted(files.items())}
                for url, files in self.destinations.items()
            },
        }
        temp = self.path.with_name(self.path.name + ".tmp")
        with temp.open("wb") as file:
            file.write(orjson.dumps(data, option=orjson.OPT_INDENT_2))
            file.flush()
            os.fsync(file.fileno())  # a torn state file would stop every later run
        os.replace(temp, self.path)


@dataclass
class Chunk:
    """Up to ``max_records`` records read from ``offset``; ``end`` is after the last line read."""

    end: int
    records: list[dict[str, Any]] = field(default_factory=list)
    lines: int = 0
    malformed: list[tuple[int, str]] = field(default_factory=list)  # (line in chunk, reason)
    stop: str | None = None  # strict: why the line after ``lines`` was not read
    incomplete: bool = False  # stopped at a line without its newline


def read_chunk(path: Path, offset: int, end: int, max_records: int, strict: bool) -> Chunk:
    """Read complete lines from ``offset`` until ``end`` or ``max_records`` (blocking I/O)."""
    chunk = Chunk(end=offset)
    with path.open("rb") as file:
        file.seek(offset)
        while len(chunk.records) < max_records and chunk.end < end:
            line = file.readline()
            if not line.endswith(b"\n"):
                chunk.incomplete = True  # still being written: left for the next run
                break
            reason = None
            if text := line.strip():
                try:
                    value = orjson.loads(text)
                except orjson.JSONDecodeError as exc:
                    reason = f"not valid JSON ({exc})"
                else:
                    if isinstance(value, dict):
                        chunk.records.append(value)
                    else:
                        reason = f"a JSON {type(value).__name__}, not an object"
            if reason is not None:
                if strict:
                    chunk.stop = reason
                    break
                chunk.malformed.append((chunk.lines + 1, reason))
            chunk.lines += 1
            chunk.end += len(line)
    return chunk


@contextmanager
def exclusive(directory: Path) -> Iterator[None]:
    if not directory.is_dir():
        raise ShipError(f"{directory} is not a directory")
    try:
        fd = os.open(directory / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise ShipError(f"cannot keep the ship state in {directory}: {exc}") from None
    try:
        if not filelock.try_lock(fd):
            raise ShipError(f"another 'asyncexp ship' is running on {directory}")
        yield
    finally:
        filelock.unlock_and_close(fd)
