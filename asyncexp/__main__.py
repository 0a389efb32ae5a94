"""``python -m asyncexp``: the command line (see :mod:`asyncexp.cli`)."""

from asyncexp.cli import main

__all__: list[str] = []

if __name__ == "__main__":
    raise SystemExit(main())
