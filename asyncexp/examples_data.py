"""Access to the example datafile bundled with the package (used by ``make demo``)."""

from __future__ import annotations

from importlib import resources

__all__ = ["example_datafile"]


def example_datafile() -> str:
    """The bundled 50-flag example datafile, as JSON text."""
    return resources.files("asyncexp").joinpath("data/example_datafile.json").read_text("utf-8")
