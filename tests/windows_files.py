"""Windows file semantics on Linux, for tests of code that must run on both.

Windows refuses to remove or rename a file while any process has a handle to
it open (unless that handle was opened with ``FILE_SHARE_DELETE``, which
Python's ``open`` and ``os.open`` never ask for), and it has no ``os.pread``.
POSIX allows both, so a Linux test suite cannot notice code that breaks there.

:func:`install` wraps ``os.remove``, ``os.unlink``, ``os.rename``,
``os.replace`` and ``Path.unlink``/``rename``/``replace`` so that they raise
``PermissionError`` (errno 13, as Windows' sharing violation surfaces in
Python) when the path, or the existing target of a rename, is open in this
process or any process of its process group (read from ``/proc/<pid>/fd``),
and it removes ``os.pread``. Each refusal is recorded in
:attr:`WindowsFiles.refused`, so a test can tell a refusal the code handled
from one it never met.

Subprocesses call :func:`install` themselves (``python -c "import
tests.windows_files as w; w.install()"``): the process group covers siblings,
so one worker's open handle refuses another worker's remove, as on Windows.
"""

from __future__ import annotations

import errno
import os
import pathlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

__all__ = ["WindowsFiles", "install", "open_paths"]


def _group_pids() -> Iterator[int]:
    group = os.getpgrp()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as handle:
                stat = handle.read()
        except OSError:  # gone meanwhile
            continue
        # "pid (comm) state ppid pgrp ...": comm may hold spaces and parentheses
        fields = stat[stat.rindex(b")") + 2 :].split()
        if int(fields[2]) == group:
            yield int(entry)


def open_paths() -> set[str]:
    """Every path a process of this process group has open."""
    paths: set[str] = set()
    for pid in _group_pids():
        base = f"/proc/{pid}/fd"
        try:
            fds = os.listdir(base)
        except OSError:
            continue
        for fd in fds:
            try:
                paths.add(os.readlink(f"{base}/{fd}"))
            except OSError:  # closed meanwhile
                continue
    return paths


def _real(path: Any) -> str:
    return str(os.path.realpath(os.fspath(path)))


@dataclass
class WindowsFiles:
    """The installed emulation: what it refused, and how to take it out again."""

    refused: list[tuple[str, str]] = field(default_factory=list)
    """``(operation, path)`` of every refused call, in order."""
    _undo: list[Callable[[], None]] = field(default_factory=list)

    def refused_paths(self, suffix: str = "") -> list[str]:
        return [path for _, path in self.refused if path.endswith(suffix)]

    def check(self, operation: str, *paths: Any) -> None:
        """Raise ``PermissionError`` if one of ``paths`` is open somewhere in the group."""
        wanted = {_real(path) for path in paths}
        busy = wanted & open_paths()
        if busy:
            path = sorted(busy)[0]
            self.refused.append((operation, path))
            raise PermissionError(
                errno.EACCES,
                "The process cannot access the file because it is being used by another "
                "process (emulated Windows sharing violation)",
                path,
            )

    def uninstall(self) -> None:
        while self._undo:
            self._undo.pop()()


def install() -> WindowsFiles:
    """Put the emulation in place for this process (see the module docstring)."""
    state = WindowsFiles()

    def set_attr(owner: Any, name: str, value: Any) -> None:
        old = owner.__dict__[name] if isinstance(owner, type) else getattr(owner, name)
        setattr(owner, name, value)
        state._undo.append(lambda: setattr(owner, name, old))

    real_unlink, real_rename, real_replace = os.unlink, os.rename, os.replace

    def os_remove(name: str, real: Callable[..., None]) -> Callable[..., None]:
        def remove(path: Any, *args: Any, **kwargs: Any) -> None:
            state.check(f"os.{name}", path)
            real(path, *args, **kwargs)

        return remove

    def os_move(name: str, real: Callable[..., None]) -> Callable[..., None]:
        def move(src: Any, dst: Any, *args: Any, **kwargs: Any) -> None:
            # the source must be closed; so must an existing target (it is replaced)
            state.check(f"os.{name}", src, *([dst] if os.path.lexists(dst) else []))
            real(src, dst, *args, **kwargs)

        return move

    set_attr(os, "remove", os_remove("remove", os.remove))
    set_attr(os, "unlink", os_remove("unlink", real_unlink))
    set_attr(os, "rename", os_move("rename", real_rename))
    set_attr(os, "replace", os_move("replace", real_replace))

    # Path's methods call the real os functions here, so a refusal is recorded once

    def unlink(self: pathlib.Path, missing_ok: bool = False) -> None:
        state.check("Path.unlink", self)
        try:
            real_unlink(self)
        except FileNotFoundError:
            if not missing_ok:
                raise

    def path_move(name: str, real: Callable[[Any, Any], None]) -> Callable[..., pathlib.Path]:
        def move(self: pathlib.Path, target: Any) -> pathlib.Path:
            state.check(f"Path.{name}", self, *([target] if os.path.lexists(target) else []))
            real(self, target)
            return self.__class__(target)

        return move

    set_attr(pathlib.Path, "unlink", unlink)
    set_attr(pathlib.Path, "rename", path_move("rename", real_rename))
    set_attr(pathlib.Path, "replace", path_move("replace", real_replace))

    if hasattr(os, "pread"):
        pread = os.pread
        delattr(os, "pread")
        state._undo.append(lambda: setattr(os, "pread", pread))
    return state
