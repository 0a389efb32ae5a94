"""Event ids: RFC 4122 version-4 text, unique within a process and across forks."""

from __future__ import annotations

import itertools
import multiprocessing
import re
import uuid

import pytest

from asyncexp.aio import ids
from asyncexp.aio.ids import new_event_id

_V4 = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")


def test_ids_are_version_4_uuid_text() -> None:
    for _ in range(1000):
        text = new_event_id()
        assert _V4.match(text), text
        parsed = uuid.UUID(text)
        assert parsed.version == 4
        assert parsed.variant == uuid.RFC_4122
        assert str(parsed) == text


def test_ids_are_unique_and_do_not_read_as_a_sequence() -> None:
    made = [new_event_id() for _ in range(200_000)]
    assert len(set(made)) == len(made)
    tails = [int(text[-12:], 16) for text in made[:100]]
    steps = {b - a for a, b in itertools.pairwise(tails)}
    assert steps != {1}  # the count is masked


def test_a_new_prefix_after_two_to_the_48_ids(monkeypatch: pytest.MonkeyPatch) -> None:
    before = new_event_id()
    monkeypatch.setattr(ids._ids, "counter", itertools.count(ids._COUNTER_LIMIT))
    after = new_event_id()
    assert _V4.match(after), after
    assert after[:24] != before[:24]
    assert _V4.match(new_event_id())


def _child_ids(conn: multiprocessing.connection.Connection) -> None:
    conn.send([new_event_id() for _ in range(1000)])
    conn.close()


def test_forked_children_draw_their_own_prefix() -> None:
    parent = {new_event_id() for _ in range(1000)}
    context = multiprocessing.get_context("fork")
    seen: list[set[str]] = []
    for _ in range(2):
        reader, writer = context.Pipe(duplex=False)
        child = context.Process(target=_child_ids, args=(writer,))
        child.start()
        seen.append(set(reader.recv()))
        child.join(30)
        assert child.exitcode == 0
    first, second = seen
    assert not first & second
    assert not first & parent
    assert not second & parent
    prefixes = {next(iter(group))[:24] for group in (parent, first, second)}
    assert len(prefixes) == 3
