"""Arbitrary unicode, lone surrogates included, never crashes decide, track or decide_treatment.

In-process: ``test_surrogates_subprocess`` proves in a child process that these
inputs no longer crash; here hypothesis explores the rest of the input space.
"""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from asyncexp.client import Client
from asyncexp.core.analytics.validation import check_encodable
from asyncexp.core.appconfig import assign, compile_rule, parse_experiment_run
from asyncexp.core.flags.bucketing import bucket_value
from asyncexp.errors import ValidationError
from asyncexp.testing import CapturingCollector
from tests.appconfig_samples import IN_AUDIENCE, run_dict
from tests.datafiles import base_datafile

# every code point, surrogates (category Cs) included
ANY_TEXT = st.text(alphabet=st.characters(blacklist_categories=()), max_size=40)
SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _utf8_ok(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


COLLECTOR = CapturingCollector()


@pytest.fixture(scope="module")
def client() -> Client:
    return Client(datafile=json.dumps(base_datafile()), collector=COLLECTOR, app_key="a")


@SETTINGS
@given(user_id=ANY_TEXT, value=ANY_TEXT)
def test_decide_serves_every_user_deterministically(
    client: Client, user_id: str, value: str
) -> None:
    user = client.create_user_context(user_id, {"country": value, "$opt_bucketing_id": value})
    first = user.decide("checkout")
    again = client.create_user_context(user_id, {"country": value, "$opt_bucketing_id": value})
    assert again.decide("checkout").variation_key == first.variation_key
    assert first.flag_key == "checkout"


@SETTINGS
@given(key=ANY_TEXT)
def test_bucketing_is_the_utf8_hash_for_every_valid_string(key: str) -> None:
    import mmh3

    value = bucket_value(key)
    assert 0 <= value < 10000
    if _utf8_ok(key):  # identical to the reference's hash of the UTF-8 bytes
        assert value == (mmh3.hash(key.encode("utf-8"), 1, signed=False) * 10000) >> 32


@SETTINGS
@given(distinct_id=ANY_TEXT.filter(bool), value=ANY_TEXT)
def test_track_accepts_exactly_the_encodable_strings(
    client: Client, distinct_id: str, value: str
) -> None:
    collector = COLLECTOR
    before = len(collector.records)
    if _utf8_ok(distinct_id) and _utf8_ok(value):
        client.track(distinct_id, "Purchase", {"label": value, "tags": [value]})
        assert len(collector.records) == before + 1
    else:
        with pytest.raises(ValidationError, match="lone surrogate"):
            client.track(distinct_id, "Purchase", {"label": value, "tags": [value]})
        assert len(collector.records) == before


@given(text=ANY_TEXT)
@settings(max_examples=300, deadline=None)
def test_check_encodable_agrees_with_the_codec(text: str) -> None:
    if _utf8_ok(text):
        assert check_encodable(text, "f") is text
    else:
        with pytest.raises(ValidationError, match="lone surrogate"):
            check_encodable(text, "f")


RUN = parse_experiment_run(run_dict(ExposurePercentage=100.0))
RULE = compile_rule('(or (matches in::$v pattern::"^(a|é)+[^x]*$") (split pct::50 by::$v))')


@SETTINGS
@given(entity=ANY_TEXT.filter(bool), value=ANY_TEXT)
def test_decide_treatment_and_rules_take_any_text(entity: str, value: str) -> None:
    decision = assign(RUN, entity, {**IN_AUDIENCE, "v": value})
    assert decision == assign(RUN, entity, {**IN_AUDIENCE, "v": value})
    assert RULE.evaluate({"v": value}) in (True, False)
