"""The CMAB prediction service client (optimizely-sdk 5.7 wire format).

:class:`HttpCmabPredictor` asks for one prediction:

* ``POST`` to the endpoint template with ``{}`` replaced by the rule id (default
  ``https://prediction.cmab.optimizely.com/predict/{}``), ``Content-Type:
  application/json``, 10 s per attempt;
* body ``{"instances": [{"visitorId", "experimentId", "attributes": [{"id", "value",
  "type": "custom_attribute"}], "cmabUUID"}]}``;
* answer ``{"predictions": [{"variation_id": ...}]}`` (the value is taken as a
  string); a non-2xx status, a connection error, a timeout or any other body is a
  failed attempt;
* one retry (two attempts) after 0.1 s, as the reference (its backoff doubles up to
  10 s for later retries). Every failure is retried, as the reference does.

After the last attempt it raises :class:`CmabFetchError` with the reference's message
(``CMAB decision fetch failed with status: Exhausted all retries for CMAB request..``).
The caching, coalescing and decide options live in :mod:`asyncexp.flags.cmab`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import orjson

from asyncexp.aio.http import HttpTransport
from asyncexp.aio.retry import Attempt, RetryPolicy, call_with_retries
from asyncexp.errors import AsyncExpError, DeliveryError

__all__ = [
    "DEFAULT_PREDICTION_ENDPOINT",
    "PREDICTION_RETRY",
    "CmabFetchError",
    "HttpCmabPredictor",
    "prediction_body",
]

logger = logging.getLogger("asyncexp.cmab")

DEFAULT_PREDICTION_ENDPOINT = "https://prediction.cmab.optimizely.com/predict/{}"
PREDICTION_TIMEOUT = 10.0
# One retry after 0.1 s (the reference's CmabRetryConfig defaults); jitter is fixed at
# 1 below so the wait is exactly the ceiling.
PREDICTION_RETRY = RetryPolicy(max_retries=1, base_delay=0.1, max_delay=10.0)
_HEADERS = {"Content-Type": "application/json"}


class CmabFetchError(DeliveryError):
    """No usable prediction after the retries."""


def prediction_body(
    rule_id: str, user_id: str, attributes: Mapping[str, Any], cmab_uuid: str
) -> dict[str, Any]:
    """The request body the reference sends (attributes keyed by attribute id)."""
    return {
        "instances": [
            {
                "visitorId": user_id,
                "experimentId": rule_id,
                "attributes": [
                    {"id": key, "value": value, "type": "custom_attribute"}
                    for key, value in attributes.items()
                ],
                "cmabUUID": cmab_uuid,
            }
        ]
    }


def _variation_id(body: bytes) -> str | None:
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    predictions = doc.get("predictions") if isinstance(doc, dict) else None
    if not isinstance(predictions, list) or not predictions:
        return None
    first = predictions[0]
    if not isinstance(first, dict) or "variation_id" not in first:
        return None
    return str(first["variation_id"])


class HttpCmabPredictor:
    """Predictions over the client's HTTP transport (``transport`` is called per request,
    so the client's lazily created one is used)."""

    def __init__(
        self,
        transport: Callable[[], HttpTransport],
        *,
        endpoint: str = DEFAULT_PREDICTION_ENDPOINT,
        timeout: float = PREDICTION_TIMEOUT,
        retry: RetryPolicy = PREDICTION_RETRY,
        sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
    ) -> None:
        self._transport = transport
        self.endpoint = endpoint
        self._timeout = timeout
        self._retry = retry
        self._sleep = sleep

    def url_for(self, rule_id: str) -> str:
        return self.endpoint.replace("{}", rule_id)

    async def predict(
        self, rule_id: str, user_id: str, attributes: Mapping[str, Any], cmab_uuid: str
    ) -> str:
        url = self.url_for(rule_id)
        data = orjson.dumps(
            prediction_body(rule_id, user_id, attributes, cmab_uuid),
            option=orjson.OPT_NON_STR_KEYS,
            default=str,
        )
        found: list[str] = []

        async def attempt() -> Attempt:
            try:
                response = await self._transport().post(
                    url, data, headers=_HEADERS, timeout=self._timeout
                )
            except AsyncExpError as exc:
                logger.error("CMAB decision fetch failed with status: %s.", exc)
                return Attempt(ok=False, retryable=True, reason="transport")
            if not 200 <= response.status < 300:
                logger.error("CMAB decision fetch failed with status: %s.", response.status)
                return Attempt(ok=False, retryable=True, reason=f"http {response.status}")
            variation_id = _variation_id(response.body)
            if variation_id is None:
                logger.error("Invalid CMAB fetch response.")
                return Attempt(ok=False, retryable=True, reason="invalid")
            found.append(variation_id)
            return Attempt(ok=True)

        def on_retry(outcome: Attempt, wait: float) -> None:
            logger.info("Retrying CMAB request (%s) after %s seconds...", outcome.reason, wait)

        outcome = await call_with_retries(
            attempt, self._retry, sleep=self._sleep, jitter=lambda: 1.0, on_retry=on_retry
        )
        if outcome.ok and found:
            return found[-1]
        raise CmabFetchError(
            "CMAB decision fetch failed with status: Exhausted all retries for CMAB request.."
        )
