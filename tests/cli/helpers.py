"""Running ``python -m asyncexp`` in a subprocess, from async tests.

The subprocess is awaited with asyncio so that servers living in the test's
own event loop keep answering while the command runs.
"""

from __future__ import annotations

import asyncio
import os
import socket
import sys
from dataclasses import dataclass
from typing import Any

import orjson

from asyncexp.cli._source import TOKEN_ENV

__all__ = ["TIMEOUT", "Result", "cli_env", "closed_port", "run_cli", "start_cli"]

TIMEOUT = 120.0  # generous: a loaded CI machine, never a timing assertion


@dataclass(frozen=True)
class Result:
    code: int
    out: str
    err: str

    def json(self) -> Any:
        return orjson.loads(self.out)

    def assert_one_line_error(self, code: int) -> str:
        """The command failed with ``code`` and said why in one line, without a traceback."""
        assert self.code == code, (self.code, self.out, self.err)
        assert "Traceback" not in self.err, self.err
        lines = self.err.strip().splitlines()
        assert len(lines) == 1, self.err
        assert "error" in lines[0], lines[0]
        return lines[0]


def cli_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != TOKEN_ENV}
    env.update(extra)
    return env


async def start_cli(
    *args: str, stdin: bool = False, env: dict[str, str] | None = None
) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "asyncexp",
        *args,
        stdin=asyncio.subprocess.PIPE if stdin else asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env if env is not None else cli_env(),
    )


async def run_cli(
    *args: str, stdin: bytes | None = None, env: dict[str, str] | None = None
) -> Result:
    """Run ``python -m asyncexp ARGS`` to completion."""
    proc = await start_cli(*args, stdin=stdin is not None, env=env)
    try:
        out, err = await asyncio.wait_for(proc.communicate(stdin), TIMEOUT)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise
    assert proc.returncode is not None
    return Result(proc.returncode, out.decode(), err.decode())


def closed_port() -> int:
    """A port on 127.0.0.1 nothing listens on (it was free a moment ago)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port
