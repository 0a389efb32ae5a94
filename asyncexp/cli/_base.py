"""What every subcommand shares: the parser class, errors, logging and JSON output.

* Usage errors are one line on stderr and exit status 2 (:class:`CliParser`);
  other failures raise :class:`CliError` and ``main`` prints its one line.
* Logging: the CLI's own messages (logger ``asyncexp.cli``) show from WARNING,
  or INFO with ``-v``. Other asyncexp loggers are silent by default — the CLI
  reports their failures in its own single error line — and show from WARNING
  with ``-v``, INFO with ``-vv``, DEBUG with ``-vvv``.
* Secrets (the SDK key, the datafile access token) are replaced by ``***`` in
  everything written to stderr, so URLs built from them never leak.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any, NoReturn

import orjson

__all__ = [
    "EXIT_FAILURE",
    "EXIT_USAGE",
    "CliError",
    "CliParser",
    "Redactor",
    "cli_logging",
    "describe",
    "logger",
    "non_negative_int",
    "positive_float",
    "positive_int",
    "print_json",
]

logger = logging.getLogger("asyncexp.cli")

EXIT_FAILURE = 1
EXIT_USAGE = 2


class CliError(Exception):
    """A failure to report as one line on stderr, with ``code`` as the exit status."""

    def __init__(self, message: str, code: int = EXIT_FAILURE) -> None:
        super().__init__(message)
        self.code = code


class CliParser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose usage errors are a single line (exit status 2)."""

    def error(self, message: str) -> NoReturn:
        # argparse prints the whole usage block first; one line pointing at --help
        # is easier to read in scripts' logs.
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


def describe(doc: str | None) -> str | None:
    """A module docstring without its summary line, as ``--help`` text (no reST markup)."""
    if not doc or "\n\n" not in doc:
        return None
    return doc.split("\n\n", 1)[1].replace("``", "").replace(":class:", "").strip() + "\n"


def _int_at_least(text: str, minimum: int, rule: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < minimum:
        raise argparse.ArgumentTypeError(f"{rule}, got {value}")
    return value


def positive_int(text: str) -> int:
    """argparse type: an integer >= 1."""
    return _int_at_least(text, 1, "must be at least 1")


def non_negative_int(text: str) -> int:
    """argparse type: an integer >= 0."""
    return _int_at_least(text, 0, "must not be negative")


def positive_float(text: str) -> float:
    """argparse type: a finite number > 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text!r}")
    return value


class Redactor:
    """Replaces every known secret in a text by ``***``."""

    def __init__(self, secrets: Iterable[str | None] = ()) -> None:
        # Longest first, so a secret containing another is replaced whole.
        self._secrets = sorted({s for s in secrets if s}, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return text


def _is_cli(record: logging.LogRecord) -> bool:
    return record.name == logger.name or record.name.startswith(logger.name + ".")


class _StderrFilter(logging.Filter):
    """Applies the verbosity rules of the module docstring and redacts secrets."""

    def __init__(self, verbosity: int, redact: Callable[[str], str]) -> None:
        super().__init__()
        own = logging.INFO if verbosity >= 1 else logging.WARNING
        library = {0: logging.CRITICAL + 1, 1: logging.WARNING, 2: logging.INFO}
        self._own = own
        self._library = library.get(verbosity, logging.DEBUG)
        self._redact = redact

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < (self._own if _is_cli(record) else self._library):
            return False
        # Format once here, so the secret cannot come back through the arguments.
        record.msg = self._redact(record.getMessage())
        record.args = None
        if record.exc_info is not None:
            record.exc_text = self._redact(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        return True


class _Formatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        level = record.levelname.lower()
        where = "" if _is_cli(record) else f" [{record.name}]"
        text = f"asyncexp: {level}{where}: {record.getMessage()}"
        if record.exc_text:
            text += "\n" + record.exc_text
        return text


@contextmanager
def cli_logging(verbosity: int, redact: Callable[[str], str]) -> Iterator[None]:
    """Route asyncexp's logs to stderr for the duration of one command."""
    root = logging.getLogger("asyncexp")
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(_StderrFilter(verbosity, redact))
    handler.setFormatter(_Formatter())
    old_level, old_propagate = root.level, root.propagate
    # The logger level only decides which records are created; the filter decides
    # which are shown. WARNING is the floor: failures are watched even when hidden.
    root.setLevel(
        logging.DEBUG if verbosity >= 3 else logging.INFO if verbosity else logging.WARNING
    )
    root.propagate = False  # an application's root handlers would print them twice
    root.addHandler(handler)
    try:
        yield
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)
        root.propagate = old_propagate


def print_json(value: Any, *, compact: bool = False) -> None:
    """Write ``value`` as JSON (indented unless ``compact``) and a newline to stdout."""
    option = orjson.OPT_APPEND_NEWLINE | (0 if compact else orjson.OPT_INDENT_2)
    sys.stdout.write(orjson.dumps(value, option=option).decode())
    sys.stdout.flush()
