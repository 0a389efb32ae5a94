"""Fixtures for the framework integration tests: a local ingestion server."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from asyncexp.testing import IngestionServer


@pytest.fixture
async def ingest() -> AsyncIterator[IngestionServer]:
    """An ingestion server on 127.0.0.1, an ephemeral port."""
    async with IngestionServer() as server:
        yield server
