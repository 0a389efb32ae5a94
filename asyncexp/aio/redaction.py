"""Secrets out of every string the library writes: logs, reprs and exception messages.

``safe_url`` is the one way a URL reaches a message: it drops ``user:password@``
and masks the values of query parameters that carry credentials. ``mask`` shows
enough of a key to tell two apart (its last four characters) and nothing more.
``url_secrets`` lists what in a URL is secret (the password, the user info, the
values of credential query parameters, raw and decoded) and ``redact`` masks
given secrets wherever they appear in a text, such as a third-party exception
message that may quote a URL.
"""

from __future__ import annotations

from urllib.parse import parse_qsl, unquote, urlencode, urlsplit, urlunsplit

__all__ = ["SECRET_QUERY_KEYS", "mask", "redact", "safe_url", "url_secrets"]

SECRET_QUERY_KEYS = frozenset(
    {"token", "access_token", "api_key", "apikey", "key", "password", "secret", "signature"}
)
_MASK = "***"


def mask(secret: str | None) -> str:
    """``"…abcd"`` for a secret of 12 characters or more, else ``"***"``."""
    if not secret:
        return _MASK
    return "…" + secret[-4:] if len(secret) >= 12 else _MASK


def safe_url(url: str, *secrets: str | None) -> str:
    """``url`` without credentials; each of ``secrets`` found in it is masked too."""
    try:
        parts = urlsplit(url)
        netloc = parts.netloc.rpartition("@")[2]
        query = parts.query
        if query:
            pairs = parse_qsl(query, keep_blank_values=True)
            if any(k.lower() in SECRET_QUERY_KEYS for k, _ in pairs):
                query = urlencode(
                    [(k, _MASK if k.lower() in SECRET_QUERY_KEYS else v) for k, v in pairs]
                )
        text = urlunsplit(parts._replace(netloc=netloc, query=query))
    except ValueError:  # not a URL we can take apart: say nothing of it
        return "<invalid url>"
    for secret in secrets:
        if secret:
            text = text.replace(secret, mask(secret))
    return text


def url_secrets(url: str) -> tuple[str, ...]:
    """What of ``url`` must never be shown: user info, password, credential query values."""
    try:
        parts = urlsplit(url)
        found: list[str] = []
        userinfo = parts.netloc.rpartition("@")[0]
        if userinfo:
            found.append(userinfo)
            password = userinfo.partition(":")[2]
            if password:
                found += [password, unquote(password)]
        for key, value in parse_qsl(parts.query, keep_blank_values=True):
            if key.lower() in SECRET_QUERY_KEYS and value:
                found.append(value)
    except ValueError:
        return (url,)
    return tuple(dict.fromkeys(s for s in found if s))


def redact(text: str, *secrets: str | None) -> str:
    """``text`` with each of ``secrets`` masked wherever it appears (longest first)."""
    for secret in sorted({s for s in secrets if s}, key=len, reverse=True):
        text = text.replace(secret, mask(secret))
    return text
