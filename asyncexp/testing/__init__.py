"""Helpers shipped for users' own tests, and the local servers the CLI serves.

* :class:`CapturingCollector` (:mod:`.capture`) records what a client would
  send, synchronously, so a test can assert on impressions, conversions and
  analytics records without a server;
* :class:`IngestionServer` (:mod:`.ingestion_server`) is a local aiohttp server
  that speaks both wire formats (Analysys ``/up`` and Optimizely ``/v1/events``)
  and records what it got;
* :class:`OdpServer` (:mod:`.odp_server`) answers segment queries and takes ODP
  events;
* :class:`PredictionServer` (:mod:`.prediction_server`) answers CMAB prediction
  requests (``decide_async``) and records them;
* :class:`LoopbackSite` (:mod:`.loopback`) is their shared 127.0.0.1:0 lifecycle;
* :class:`DatafileBuilder` (:mod:`.datafile_builder`) describes flags, variables,
  rules, audiences and holdouts in code and builds a valid datafile.

May import: asyncexp.aio, asyncexp.core, asyncexp.errors, asyncexp.testing.
Never imported by: any other part of asyncexp except asyncexp.cli (``serve``).
"""

from __future__ import annotations

from asyncexp.testing.capture import CapturingCollector
from asyncexp.testing.datafile_builder import DatafileBuilder, FlagBuilder
from asyncexp.testing.ingestion_server import IngestionServer, ReceivedRequest, Reply
from asyncexp.testing.loopback import LoopbackSite
from asyncexp.testing.odp_server import INVALID_IDENTIFIER_ERROR, OdpRequest, OdpServer
from asyncexp.testing.prediction_server import PredictionRequest, PredictionServer

__all__ = [
    "INVALID_IDENTIFIER_ERROR",
    "CapturingCollector",
    "DatafileBuilder",
    "FlagBuilder",
    "IngestionServer",
    "LoopbackSite",
    "OdpRequest",
    "OdpServer",
    "PredictionRequest",
    "PredictionServer",
    "ReceivedRequest",
    "Reply",
]
