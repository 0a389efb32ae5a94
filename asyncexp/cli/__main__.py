"""``python -m asyncexp.cli``: the same as ``python -m asyncexp``."""

from asyncexp.cli import main

__all__: list[str] = []

if __name__ == "__main__":
    raise SystemExit(main())
