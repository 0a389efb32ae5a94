"""Datafiles and helpers shared by the Redis store tests and their worker processes."""

from __future__ import annotations

import json
from typing import Any

from tests.datafiles import base_datafile

__all__ = ["STICKY_FLAG", "sticky_datafile", "sticky_text"]

STICKY_FLAG = "checkout"


def sticky_datafile(revision: str, *, treatment_end: int = 10000) -> dict[str, Any]:
    """``checkout``'s A/B rule for everyone: control below 5000, treatment up to
    ``treatment_end`` (10000: everyone is bucketed; 5000: treatment gets no traffic)."""
    datafile = base_datafile()
    datafile["revision"] = revision
    rule = datafile["experiments"][0]
    rule["audienceIds"] = []
    rule.pop("audienceConditions", None)
    if treatment_end > 5000:
        rule["trafficAllocation"] = [
            {"entityId": "101", "endOfRange": 5000},
            {"entityId": "102", "endOfRange": treatment_end},
        ]
    else:  # the allocation changed: everything to control
        rule["trafficAllocation"] = [{"entityId": "101", "endOfRange": 10000}]
    return datafile


def sticky_text(revision: str, **kw: Any) -> str:
    return json.dumps(sticky_datafile(revision, **kw))
