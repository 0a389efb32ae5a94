"""``RefreshResult``: what one datafile fetch did (``Client.refresh()`` returns it)."""

from __future__ import annotations

import enum

__all__ = ["RefreshResult"]


class RefreshResult(enum.Enum):
    """The outcome of one fetch of the datafile.

    Truthy when the client now serves what the server serves (``UPDATED``,
    ``UNCHANGED``, ``NOT_MODIFIED``); falsy when it does not (``REJECTED``: the
    body arrived but did not parse or validate, the current datafile is kept;
    ``FAILED``: network error, timeout or an HTTP error status).
    """

    UPDATED = "updated"
    """A new revision was applied."""
    UNCHANGED = "unchanged"
    """A 200 with the revision already in use (nothing applied)."""
    NOT_MODIFIED = "not_modified"
    """A 304: the ETag / Last-Modified matched."""
    REJECTED = "rejected"
    """A 200 whose body was refused (invalid JSON or datafile); the current one stays."""
    FAILED = "failed"
    """No usable answer: network error, timeout, or an HTTP error status."""

    def __bool__(self) -> bool:
        return self in _OK

    @property
    def reached_server(self) -> bool:
        """True when the server answered with a 200 or a 304 (everything but FAILED)."""
        return self is not RefreshResult.FAILED


_OK = frozenset({RefreshResult.UPDATED, RefreshResult.UNCHANGED, RefreshResult.NOT_MODIFIED})
