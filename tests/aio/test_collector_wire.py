"""The Analysys and Optimizely codecs (no network)."""

from __future__ import annotations

import base64
import gzip

import orjson
import pytest

from asyncexp.aio.collectors.wire import (
    ANALYSYS_SUCCESS_BODY,
    analysys_response_code,
    analysys_up_url,
    decode_analysys_body,
    encode_analysys,
)


@pytest.mark.parametrize(
    "url",
    ["https://h:4089", "https://h:4089/", "https://h:4089/up", "https://h:4089/up/"],
)
def test_up_is_appended_once(url: str) -> None:
    assert analysys_up_url(url) == "https://h:4089/up"


def test_prefix_paths_are_kept() -> None:
    assert analysys_up_url("https://h/ingest") == "https://h/ingest/up"


def test_gzip_base64_round_trip_and_plain() -> None:
    records = [{"appid": "a", "xwho": "用户", "xwhat": "e", "xwhen": 1, "xcontext": {}}]
    packed = encode_analysys(records, "gzip")
    assert orjson.loads(gzip.decompress(base64.b64decode(packed, validate=True))) == records
    assert encode_analysys(records, "json") == orjson.dumps(records)
    assert "用户".encode() in encode_analysys(records, "json")


def test_the_documented_success_constant_decodes_to_code_200() -> None:
    assert decode_analysys_body(ANALYSYS_SUCCESS_BODY) == b'{"code":200}'
    assert analysys_response_code(ANALYSYS_SUCCESS_BODY) == 200


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (b'{"code":200}', 200),
        (b' {"code": 500} ', 500),
        (b'{"code":400,"msg":"bad appid"}', 400),
        (base64.b64encode(gzip.compress(b'{"code":403}')), 403),
        (b'{"code":"200"}', None),
        (b"[200]", None),
        (b"", None),
        (b"not base64!", None),
        (base64.b64encode(b"not gzip"), None),
        (b'{"code":true}', None),
    ],
)
def test_response_codes(body: bytes, code: int | None) -> None:
    assert analysys_response_code(body) == code


def test_decoded_response_size_is_capped() -> None:
    bomb = base64.b64encode(gzip.compress(b" " * 200_000 + b'{"code":200}'))
    with pytest.raises(ValueError, match="exceeds"):
        decode_analysys_body(bomb)
    assert analysys_response_code(bomb) is None


async def test_up_requests_carry_the_analysys_sdks_content_type() -> None:
    from asyncexp.aio.collectors import BatchCollector
    from asyncexp.testing import IngestionServer

    record = {"appid": "a", "xwho": "u", "xwhat": "e", "xwhen": 1, "xcontext": {}}
    async with IngestionServer() as server:
        for encoding, expected in (
            ("gzip", "application/x-www-form-urlencoded"),
            ("json", "application/json"),
        ):
            collector = BatchCollector(server.url, encoding=encoding, spool=False)  # type: ignore[arg-type]
            await collector.start()
            collector.submit(dict(record))
            await collector.aclose()
            assert server.requests[-1].headers["Content-Type"] == expected
            assert server.requests[-1].payload == [record]
