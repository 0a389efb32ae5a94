"""``safe_url`` and ``mask``: what may appear of a URL or a key in a message."""

from __future__ import annotations

from asyncexp.aio.redaction import mask, redact, safe_url, url_secrets


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


def test_url_secrets_lists_what_must_not_be_shown() -> None:
    url = "https://alice:p%40ss-w0rd@h/d.json?token=tok-123&v=2"
    assert url_secrets(url) == ("alice:p%40ss-w0rd", "p%40ss-w0rd", "p@ss-w0rd", "tok-123")
    assert url_secrets("https://h/d.json") == ()


def test_redact_masks_secrets_in_any_text() -> None:
    url = "http://bob:hunter2-hunter2@127.0.0.1:1/x"
    text = f"Cannot connect to {url} (bob:hunter2-hunter2)"
    out = redact(text, *url_secrets(url))
    assert "hunter2-hunter2" not in out
    assert redact("no secrets here", None, "") == "no secrets here"
