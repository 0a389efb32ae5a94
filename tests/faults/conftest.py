"""Fixtures of the fault suite: a switchable server and an Analytics front end."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from asyncexp.analytics.api import Analytics
from tests.faults.fault_server import FaultServer


@pytest.fixture
async def fault_server() -> AsyncIterator[FaultServer]:
    """A :class:`FaultServer` on 127.0.0.1, answering ``ok`` until told otherwise."""
    async with FaultServer() as server:
        yield server


@pytest.fixture
def analytics_for() -> Callable[[Any], Analytics]:
    """``analytics_for(collector)``: the Analysys API over ``collector`` (app key "shop")."""

    def make(collector: Any) -> Analytics:
        return Analytics(collector, app_key="shop")

    return make
