"""``safe_url`` and ``mask``: what may appear of a URL or a key in a message."""

from __future__ import annotations

from asyncexp.aio.redaction import mask, safe_url


def test_credentials_leave_the_url() -> None:
    url = "https://alice:s3cr3t@ingest.example.com:4089/up?x=1"
    assert safe_url(url) == "https://ingest.example.com:4089/up?x=1"
    assert "s3cr3t" not in safe_url("http://:s3cr3t@h/p")


def test_secret_query_values_are_masked() -> None:
    out = safe_url("https://h/datafile.json?token=abcdef&v=2")
    assert "abcdef" not in out
    assert "v=2" in out


def test_named_secrets_are_masked_wherever_they_appear() -> None:
    key = "AbCdEfGhIjKlMnOp"
    out = safe_url(f"https://cdn.optimizely.com/datafiles/{key}.json", key)
    assert key not in out
    assert out.endswith("…MnOp.json")
    assert mask("short") == "***"
    assert mask(None) == "***"


def test_a_malformed_url_says_nothing() -> None:
    assert safe_url("http://[::1") == "<invalid url>"
