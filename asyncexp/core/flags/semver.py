"""Optimizely's semantic-version comparison, as the Python reference SDK does it.

This is *not* semver.org precedence; it is the reference's own algorithm
(behaviour reference §3.4), kept bit-for-bit because audiences depend on it.

Rules this module implements:

* A version is **pre-release** if it contains ``-`` and either has no ``+`` or its
  first ``-`` comes before its first ``+``; it is a **build** if it contains ``+``
  and either has no ``-`` or its first ``+`` comes before its first ``-``.
* **Parsing.** A string containing a space (U+0020 only; other whitespace is not
  checked) is invalid. A pre-release is split once at its first ``-``, else a build
  once at its first ``+``; the part before is the numeric prefix, the rest is one
  suffix string (possibly empty: ``"1.2.3-"`` is valid). The prefix has at most two
  dots and every dot-separated part is non-empty and ``str.isdigit()``. The parts are
  the prefix parts plus the suffix, if any.
* **Comparison** ``compare(target, user)`` walks the *target's* parts:

  - user has no part here: +1 if the target is pre-release or build, else -1;
  - user part is not all digits: compare the two parts as strings; user < target
    gives +1 if the target is pre-release and the user is not, else -1; user >
    target gives -1 if the target is not pre-release and the user is, else +1;
  - otherwise compare both parts as integers and return on a difference.

  After the walk: -1 if the user is pre-release and the target is not, else 0.
  Positive means user > target. A compiled condition parses its target once
  (`parse_version`) and compares each user string with `compare_to`.
* Consequences kept on purpose: extra user parts are ignored (target ``"2"``
  equals user ``"2.9.1"``); user build metadata is ignored, yet user ``"2.0.0"`` is
  greater than target ``"2.0.0+build"``; suffixes compare as whole strings
  (``"beta.10" < "beta.2"``).
* **Deviation.** Where the reference raises ``ValueError`` from ``int()`` (a digit
  user part against a non-numeric target part such as target ``"1.2-beta"`` vs user
  ``"1.2.3"``, or a ``str.isdigit()`` character ``int()`` rejects such as ``"²"``),
  the comparison here is ``None`` (invalid) instead.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Version", "compare_to", "compare_versions", "parse_version"]


@dataclass(frozen=True, slots=True)
class Version:
    """A parsed version: its parts, their integer values, and its two flags.

    ``numbers[i]`` is ``int(parts[i])`` when that part is all digits and ``int()``
    accepts it, else ``None``. A compiled condition parses its target once into this.
    """

    parts: tuple[str, ...]
    numbers: tuple[int | None, ...]
    pre_release: bool
    build: bool


def _split(text: str) -> tuple[list[str], bool, bool] | None:
    """``(parts, pre_release, build)``, or ``None`` if ``text`` is invalid."""
    if " " in text:
        return None
    pre_release = build = False
    suffix = None
    if "-" in text or "+" in text:  # `in` first: most versions have neither, find() is slower
        dash = text.find("-")
        plus = text.find("+")
        pre_release = dash >= 0 and (plus < 0 or dash < plus)
        build = not pre_release  # one of the two is present and comes first
        text, _, suffix = text.partition("-" if pre_release else "+")
    parts = text.split(".")
    if len(parts) > 3:
        return None
    for part in parts:
        if not part.isdigit():  # also rejects the empty parts of "1..2", "2." and ""
            return None
    if suffix is not None:
        parts.append(suffix)
    return parts, pre_release, build


def _to_int(part: str) -> int | None:
    if not part.isdigit():
        return None
    try:
        return int(part)
    except ValueError:  # e.g. "²" is a digit to isdigit() but not to int()
        return None


def parse_version(text: str) -> Version | None:
    """Parse ``text`` per the rules above, or ``None`` if it is invalid."""
    split = _split(text)
    if split is None:
        return None
    parts, pre_release, build = split
    return Version(tuple(parts), tuple(_to_int(p) for p in parts), pre_release, build)


def compare_to(target: Version, user: str) -> int | None:
    """Compare the ``user`` string against a parsed ``target``: -1, 0 or +1 (positive:
    user > target); ``None`` if ``user`` is invalid or the reference would raise."""
    split = _split(user)
    if split is None:
        return None
    user_parts, user_pre_release, _ = split
    user_count = len(user_parts)
    target_numbers = target.numbers
    for index, target_part in enumerate(target.parts):
        if index >= user_count:
            return 1 if target.pre_release or target.build else -1
        user_part = user_parts[index]
        if not user_part.isdigit():
            if user_part < target_part:
                return 1 if target.pre_release and not user_pre_release else -1
            if user_part > target_part:
                return -1 if not target.pre_release and user_pre_release else 1
            continue
        target_number = target_numbers[index]
        if target_number is None:  # digits against a suffix: the reference's int() raises
            return None
        if user_part == target_part:  # same digits, same number: skip int()
            continue
        try:
            user_number = int(user_part)
        except ValueError:  # a digit int() rejects, e.g. "²": the reference raises here
            return None
        if user_number != target_number:
            return 1 if user_number > target_number else -1
    return -1 if user_pre_release and not target.pre_release else 0


def compare_versions(target: str, user: str) -> int | None:
    """-1/0/+1 comparing ``user`` against ``target`` (positive means user > target, so
    ``semver_gt`` holds when the result is > 0); ``None`` if either is invalid."""
    parsed = parse_version(target)
    return None if parsed is None else compare_to(parsed, user)
