"""Typed usage of the public API, checked with ``mypy --strict`` (see test_public_types)."""
