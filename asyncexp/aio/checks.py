"""Checks of settings at construction: ``ConfigError`` naming the setting.

Shared by the client's keywords and option shapes (:mod:`asyncexp.options`) and
the collectors' constructors. Messages show scalars (short strings) and only the
type of anything else, so no secret or huge value ends up in an exception.
"""

from __future__ import annotations

from collections.abc import Collection

from asyncexp.errors import ConfigError

__all__ = ["check_bool", "check_choice", "check_http_url", "check_number", "check_str", "show"]


def show(value: object) -> str:
    """``repr`` of a scalar or a short str; ``a <type>`` for anything else."""
    if value is None or isinstance(value, bool | int | float):
        return repr(value)
    if isinstance(value, str):
        return repr(value) if len(value) <= 40 else f"a str of {len(value)} characters"
    return f"a {type(value).__name__}"


def check_number(
    setting: str,
    value: object,
    *,
    integer: bool = False,
    minimum: float = 0,
    inclusive: bool = False,
    maximum: float | None = None,
    optional: bool = False,
) -> None:
    """Raise ``ConfigError`` naming ``setting`` unless ``value`` is a number (an int if
    ``integer``; never a bool, NaN or a str) above ``minimum`` (or equal to it, if
    ``inclusive``) and at most ``maximum``; ``None`` too when ``optional``."""
    if optional and value is None:
        return
    kind = "an int" if integer else "a number"
    sign = ">=" if inclusive else ">"
    wanted = f"{kind} {sign} {minimum:g}"
    if maximum is not None:
        wanted += f" and <= {maximum:g}"
    if optional:
        wanted += " or None"
    ok_type = isinstance(value, int) if integer else isinstance(value, int | float)
    if isinstance(value, bool) or not ok_type:
        raise ConfigError(f"{setting}: must be {wanted}, got {show(value)}")
    assert isinstance(value, int | float)
    in_range = value >= minimum if inclusive else value > minimum
    if not in_range or (maximum is not None and not value <= maximum):
        raise ConfigError(f"{setting}: must be {wanted}, got {value!r}")


def check_str(setting: str, value: object, *, optional: bool = True) -> None:
    """Raise ``ConfigError`` naming ``setting`` unless ``value`` is a str (or None)."""
    if value is None and optional:
        return
    if not isinstance(value, str):
        raise ConfigError(
            f"{setting}: must be a str{' or None' if optional else ''}, got {type(value).__name__}"
        )


def check_bool(setting: str, value: object) -> None:
    if not isinstance(value, bool):
        raise ConfigError(f"{setting}: must be a bool, got {show(value)}")


def check_choice(setting: str, value: object, choices: Collection[str]) -> None:
    if not isinstance(value, str) or value not in choices:
        listed = ", ".join(repr(choice) for choice in choices)
        raise ConfigError(f"{setting}: must be one of {listed}, got {show(value)}")


def check_http_url(setting: str, value: object, *, optional: bool = True) -> None:
    """An ``http://`` or ``https://`` URL (the message shows no more than the scheme)."""
    if value is None and optional:
        return
    check_str(setting, value, optional=optional)
    assert isinstance(value, str)
    if not value.startswith(("http://", "https://")) or len(value.split("://", 1)[1]) == 0:
        scheme = value.split("://", 1)[0] if "://" in value else "no scheme"
        raise ConfigError(f"{setting}: must be an http(s) URL, got {scheme!r}")
