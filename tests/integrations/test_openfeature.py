"""The OpenFeature provider, driven through the OpenFeature client API."""

from __future__ import annotations

import asyncio
import copy
import datetime
import importlib
import logging
import sys
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from openfeature import api
from openfeature.evaluation_context import EvaluationContext
from openfeature.event import EventDetails, ProviderEvent
from openfeature.exception import ErrorCode, ProviderNotReadyError
from openfeature.flag_evaluation import FlagEvaluationDetails, Reason
from openfeature.hook import Hook, HookContext, HookHints
from openfeature.provider import ProviderStatus
from openfeature.track import TrackingEventDetails

from asyncexp import Client, DecideOption, DecisionContext, ForcedDecision
from asyncexp.errors import ClientStateError, MissingExtraError
from asyncexp.flags.notifications import NotificationType
from asyncexp.integrations.openfeature import AsyncExpProvider
from asyncexp.testing import CapturingCollector
from tests.datafiles import VARS, base_datafile

# Buckets in tests/datafiles.py: adults enter checkout_test (user0 → control, user1 →
# treatment); minors fall to the delivery rules (US → us_rule "on", else everyone_else
# "off").
CONTROL = EvaluationContext("user0", {"age": 30})
TREATMENT = EvaluationContext("user1", {"age": 30})
US_MINOR = EvaluationContext("user1", {"age": 10, "country": "US"})
FR_MINOR = EvaluationContext("user1", {"age": 10, "country": "FR"})


def datafile() -> dict[str, Any]:
    """The base datafile plus ``dormant`` (no rules), ``odd`` (a value that does not
    cast, a JSON scalar) and ``web.banner`` (a flag key with a dot)."""
    data = base_datafile()
    data["featureFlags"] += [
        {
            "id": "f_dormant",
            "key": "dormant",
            "rolloutId": "",
            "experimentIds": [],
            "variables": copy.deepcopy(VARS),
        },
        {
            "id": "f_odd",
            "key": "odd",
            "rolloutId": "",
            "experimentIds": [],
            "variables": [
                {"id": "v_bad", "key": "bad", "type": "integer", "defaultValue": "abc"},
                {"id": "v_num", "key": "num", "type": "json", "defaultValue": "5"},
            ],
        },
        {
            "id": "f_web",
            "key": "web.banner",
            "rolloutId": "",
            "experimentIds": [],
            "variables": [{"id": "v_t", "key": "text", "type": "string", "defaultValue": "hi"}],
        },
    ]
    return data


@pytest.fixture(autouse=True)
def _openfeature_api() -> Iterator[None]:
    api.shutdown()
    yield
    api.shutdown()


@pytest.fixture
def collector() -> CapturingCollector:
    return CapturingCollector()


@pytest.fixture
def client(collector: CapturingCollector) -> Client:
    return Client(datafile=datafile(), collector=collector)


@pytest.fixture
def flags(client: Client) -> Any:
    api.set_provider_and_wait(AsyncExpProvider(client))
    return api.get_client()


def impressions(collector: CapturingCollector) -> list[dict[str, Any]]:
    return [
        e.visitor["snapshots"][0]["decisions"][0]
        for e in collector.events
        if e.kind == "impression"
    ]


def assert_error(details: FlagEvaluationDetails[Any], code: ErrorCode, default: Any) -> None:
    assert details.error_code == code, details
    assert details.reason == Reason.ERROR
    assert details.value == default
    assert type(details.value) is type(default)
    assert details.error_message


# -- boolean flag keys and reasons ----------------------------------------------------
def test_boolean_experiment_variation_is_split_with_flag_metadata(
    flags: Any, collector: CapturingCollector
) -> None:
    details = flags.get_boolean_details("checkout", False, TREATMENT)
    assert details.value is True
    assert details.variant == "treatment"
    assert details.reason == Reason.SPLIT
    assert details.error_code is None
    assert details.flag_metadata == {
        "flag_key": "checkout",
        "enabled": True,
        "variation_key": "treatment",
        "rule_key": "checkout_test",
    }
    # the evaluation is a decision: one impression for the experiment
    [decision] = impressions(collector)
    assert decision["metadata"]["variation_key"] == "treatment"


def test_disabled_experiment_variation_is_still_split(flags: Any) -> None:
    details = flags.get_boolean_details("checkout", True, CONTROL)
    assert (details.value, details.variant, details.reason) == (False, "control", Reason.SPLIT)


def test_delivery_rule_is_targeting_match(flags: Any) -> None:
    details = flags.get_boolean_details("checkout", False, US_MINOR)
    assert (details.value, details.variant, details.reason) == (True, "on", Reason.TARGETING_MATCH)
    assert details.flag_metadata["rule_key"] == "us_rule"


def test_delivery_rule_serving_a_disabled_variation_is_disabled(flags: Any) -> None:
    details = flags.get_boolean_details("checkout", True, FR_MINOR)
    assert (details.value, details.variant, details.reason) == (False, "off", Reason.DISABLED)
    assert details.flag_metadata["rule_key"] == "everyone_else"


def test_no_rule_is_default_with_the_flags_defaults(flags: Any) -> None:
    details = flags.get_boolean_details("dormant", True, TREATMENT)
    assert (details.value, details.variant, details.reason) == (False, None, Reason.DEFAULT)
    assert details.flag_metadata == {"flag_key": "dormant", "enabled": False}
    # no variation: the string form falls back to the caller's default
    string = flags.get_string_details("dormant", "fallback", TREATMENT)
    assert (string.value, string.reason, string.error_code) == ("fallback", Reason.DEFAULT, None)
    # variables are the datafile's defaults, not the caller's
    count = flags.get_integer_details("dormant.count", 99, TREATMENT)
    assert (count.value, count.reason) == (1, Reason.DEFAULT)


def test_flag_level_forced_decision_is_targeting_match(
    client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    # An evaluation context cannot carry forced decisions, so the user contexts the
    # provider creates get one by wrapping create_user_context.
    original = client.create_user_context

    def forced(user_id: str, attributes: Any = None) -> Any:
        user = original(user_id, attributes)
        user.set_forced_decision(DecisionContext("checkout"), ForcedDecision("treatment"))
        return user

    monkeypatch.setattr(client, "create_user_context", forced)
    api.set_provider_and_wait(AsyncExpProvider(client))
    details = api.get_client().get_boolean_details("checkout", False, FR_MINOR)
    assert (details.value, details.variant, details.reason) == (
        True,
        "treatment",
        Reason.TARGETING_MATCH,
    )
    assert "rule_key" not in details.flag_metadata


# -- typed variables ------------------------------------------------------------------
def test_each_variable_type_resolves_with_its_python_type(flags: Any) -> None:
    show = flags.get_boolean_details("checkout.show", False, TREATMENT)
    label = flags.get_string_details("checkout.label", "x", TREATMENT)
    count = flags.get_integer_details("checkout.count", 0, TREATMENT)
    price = flags.get_float_details("checkout.price", 0.0, TREATMENT)
    blob = flags.get_object_details("checkout.blob", {}, TREATMENT)
    assert (show.value, label.value, count.value, price.value, blob.value) == (
        True,
        "on",
        7,
        1.25,
        {"a": 2},
    )
    assert type(count.value) is int
    for details in (show, label, count, price, blob):
        assert details.error_code is None
        assert details.reason == Reason.SPLIT
        assert details.variant == "treatment"
    assert price.flag_metadata["variable_key"] == "price"
    assert flags.get_object_value("checkout.legacy", {}, TREATMENT) == [1]


def test_an_integer_variable_widens_to_float(flags: Any) -> None:
    details = flags.get_float_details("checkout.count", 0.0, TREATMENT)
    assert details.value == 7.0
    assert type(details.value) is float
    assert details.error_code is None


def test_bare_key_string_is_the_variation_and_object_is_every_variable(flags: Any) -> None:
    assert flags.get_string_value("checkout", "x", TREATMENT) == "treatment"
    variables = flags.get_object_value("checkout", {}, US_MINOR)
    assert variables == {
        "show": False,
        "count": 1,
        "price": 9.5,
        "label": "targeted",
        "blob": {"a": 1},
        "legacy": [1],
    }


def test_a_flag_key_with_a_dot_and_its_variables(flags: Any) -> None:
    flag = flags.get_boolean_details("web.banner", True, TREATMENT)
    assert (flag.value, flag.reason, flag.error_code) == (False, Reason.DEFAULT, None)
    text = flags.get_string_details("web.banner.text", "x", TREATMENT)
    assert (text.value, text.error_code) == ("hi", None)
    assert text.flag_metadata["flag_key"] == "web.banner"
    assert text.flag_metadata["variable_key"] == "text"


async def test_async_resolution_matches_sync_for_every_type(flags: Any) -> None:
    cases: list[tuple[str, str, Any]] = [
        ("boolean", "checkout", False),
        ("string", "checkout.label", ""),
        ("integer", "checkout.count", 0),
        ("float", "checkout.price", 0.0),
        ("object", "checkout.blob", {}),
    ]
    for kind, key, default in cases:
        sync = getattr(flags, f"get_{kind}_details")(key, default, TREATMENT)
        got = await getattr(flags, f"get_{kind}_details_async")(key, default, TREATMENT)
        assert got == sync
        assert got.error_code is None
        assert got.value != default
    missing = await flags.get_integer_details_async("checkout.nope", 3, TREATMENT)
    assert_error(missing, ErrorCode.FLAG_NOT_FOUND, 3)


# -- errors ---------------------------------------------------------------------------
def test_unknown_flag_and_unknown_variable_are_flag_not_found(
    flags: Any, collector: CapturingCollector
) -> None:
    assert_error(flags.get_boolean_details("nope", True, TREATMENT), ErrorCode.FLAG_NOT_FOUND, True)
    missing_var = flags.get_string_details("checkout.nope", "d", TREATMENT)
    assert_error(missing_var, ErrorCode.FLAG_NOT_FOUND, "d")
    assert "nope" in (missing_var.error_message or "")
    assert collector.events == []  # found before deciding: no impression


@pytest.mark.parametrize(
    ("kind", "key", "default"),
    [
        ("integer", "checkout.price", 0),  # a double never narrows to int
        ("integer", "checkout.show", 0),  # a bool is not an int
        ("boolean", "checkout.count", False),
        ("string", "checkout.count", ""),
        ("object", "checkout.label", {}),
        ("integer", "checkout", 0),  # a bare flag key is not a number
        ("float", "checkout", 0.0),
        ("string", "checkout.blob", ""),
        ("string", "checkout.legacy", ""),  # string with subType json: a json variable
    ],
)
def test_type_mismatch_returns_the_default_without_deciding(
    flags: Any, collector: CapturingCollector, kind: str, key: str, default: Any
) -> None:
    details = getattr(flags, f"get_{kind}_details")(key, default, TREATMENT)
    assert_error(details, ErrorCode.TYPE_MISMATCH, default)
    assert collector.events == []


def test_a_json_variable_holding_a_scalar_is_a_type_mismatch_for_object(flags: Any) -> None:
    details = flags.get_object_details("odd.num", {"d": 1}, TREATMENT)
    assert_error(details, ErrorCode.TYPE_MISMATCH, {"d": 1})
    assert details.flag_metadata["variable_key"] == "num"


def test_a_value_that_does_not_cast_is_a_parse_error(flags: Any) -> None:
    assert_error(flags.get_integer_details("odd.bad", 4, TREATMENT), ErrorCode.PARSE_ERROR, 4)


@pytest.mark.parametrize(
    "context",
    [None, EvaluationContext(None, {"age": 30}), EvaluationContext("", {"age": 30})],
)
def test_missing_targeting_key(flags: Any, context: EvaluationContext | None) -> None:
    details = flags.get_boolean_details("checkout", True, context)
    assert_error(details, ErrorCode.TARGETING_KEY_MISSING, True)


def test_targeting_key_from_the_api_level_context_is_used(flags: Any) -> None:
    api.set_evaluation_context(EvaluationContext("user1"))
    assert flags.get_string_value("checkout", "x", EvaluationContext(None, {"age": 30})) == (
        "treatment"
    )


def test_no_datafile_yet_is_provider_not_ready() -> None:
    # construction does no I/O: this client simply has no config until started
    client = Client(datafile_url="http://127.0.0.1:9/datafile.json")
    with pytest.raises(ProviderNotReadyError):  # initialize: no datafile, never READY
        api.set_provider_and_wait(AsyncExpProvider(client, init_timeout=0))
    assert api.get_client().get_provider_status() == ProviderStatus.ERROR
    details = api.get_client().get_float_details("checkout.price", 2.5, TREATMENT)
    assert_error(details, ErrorCode.PROVIDER_NOT_READY, 2.5)


async def test_closed_client_is_general(client: Client, flags: Any) -> None:
    await client.aclose()
    details = flags.get_boolean_details("checkout", True, TREATMENT)
    assert_error(details, ErrorCode.GENERAL, True)
    assert "closed" in (details.error_message or "")


def test_unexpected_exception_is_general_and_logged(
    client: Client,
    flags: Any,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def broken(*args: Any) -> Any:
        raise RuntimeError("boom")

    monkeypatch.setattr(client, "create_user_context", broken)
    with caplog.at_level(logging.ERROR, logger="asyncexp.integrations.openfeature"):
        details = flags.get_string_details("checkout.label", "d", TREATMENT)
    assert_error(details, ErrorCode.GENERAL, "d")
    assert details.error_message == "RuntimeError: boom"
    assert any("checkout.label" in r.getMessage() for r in caplog.records)


def test_excluded_variables_are_general(client: Client) -> None:
    api.set_provider_and_wait(
        AsyncExpProvider(client, decide_options=[DecideOption.EXCLUDE_VARIABLES])
    )
    details = api.get_client().get_integer_details("checkout.count", 3, TREATMENT)
    assert_error(details, ErrorCode.GENERAL, 3)


# -- context, options, metadata, hooks ------------------------------------------------
def test_only_scalar_attributes_reach_the_user_context(client: Client, flags: Any) -> None:
    seen: list[dict[str, Any]] = []
    client.notifications.add_listener(
        NotificationType.DECISION, lambda kind, user, attrs, info: seen.append(attrs)
    )
    context = EvaluationContext(
        "user1",
        {
            "age": 30,
            "country": "US",
            "vip": True,
            "score": 1.5,
            "since": datetime.datetime(2024, 1, 1),
            "tags": ["a"],
            "nested": {"k": 1},
        },
    )
    assert flags.get_boolean_value("checkout", False, context) is True
    assert seen == [{"age": 30, "country": "US", "vip": True, "score": 1.5}]


def test_decide_options_apply_to_every_resolution(
    client: Client, collector: CapturingCollector
) -> None:
    provider = AsyncExpProvider(client, decide_options=[DecideOption.DISABLE_DECISION_EVENT])
    api.set_provider_and_wait(provider)
    assert api.get_client().get_boolean_value("checkout", False, TREATMENT) is True
    assert collector.events == []


def test_provider_metadata_and_status(flags: Any) -> None:
    assert api.get_provider_metadata().name == "asyncexp"
    assert flags.get_provider_status() == ProviderStatus.READY
    assert flags.get_boolean_details("checkout", False, TREATMENT).flag_key == "checkout"


class RecordingHook(Hook):
    def __init__(self) -> None:
        self.after_metadata: list[Any] = []
        self.errors: list[Exception] = []

    def after(
        self, hook_context: HookContext, details: FlagEvaluationDetails[Any], hints: HookHints
    ) -> None:
        self.after_metadata.append(details.flag_metadata)

    def error(self, hook_context: HookContext, exception: Exception, hints: HookHints) -> None:
        self.errors.append(exception)


def test_hooks_see_flag_metadata_and_errors(flags: Any) -> None:
    hook = RecordingHook()
    flags.add_hooks([hook])
    flags.get_integer_value("checkout.count", 0, US_MINOR)
    flags.get_integer_value("checkout.nope", 0, US_MINOR)
    assert hook.after_metadata == [
        {
            "flag_key": "checkout",
            "enabled": True,
            "variation_key": "on",
            "rule_key": "us_rule",
            "variable_key": "count",
        }
    ]
    assert [type(e).__name__ for e in hook.errors] == ["FlagNotFoundError"]


# -- tracking -------------------------------------------------------------------------
def test_track_sends_a_conversion_with_value_and_attributes_as_tags(
    flags: Any, collector: CapturingCollector
) -> None:
    details = TrackingEventDetails(value=9.5, attributes={"revenue": 4200, "sku": "a1"})
    flags.track("purchase", EvaluationContext("user1", {"country": "US"}), details)
    [event] = collector.events
    assert event.kind == "conversion"
    assert event.visitor["visitor_id"] == "user1"
    [sent] = event.visitor["snapshots"][0]["events"]
    assert sent["key"] == "purchase"
    assert sent["tags"] == {"revenue": 4200, "sku": "a1", "value": 9.5}
    assert (sent["revenue"], sent["value"]) == (4200, 9.5)
    attributes = {a["key"]: a["value"] for a in event.visitor["attributes"]}
    assert attributes["country"] == "US"


def test_track_value_wins_over_an_attribute_named_value(
    flags: Any, collector: CapturingCollector
) -> None:
    details = TrackingEventDetails(value=2.0, attributes={"value": 1.0})
    flags.track("purchase", EvaluationContext("user1"), details)
    assert collector.events[0].visitor["snapshots"][0]["events"][0]["tags"] == {"value": 2.0}


def test_track_without_details_sends_no_tags(flags: Any, collector: CapturingCollector) -> None:
    flags.track("purchase", EvaluationContext("user1"))
    [sent] = collector.events[0].visitor["snapshots"][0]["events"]
    assert "tags" not in sent


def test_track_without_targeting_key_or_on_failure_logs_and_sends_nothing(
    client: Client,
    flags: Any,
    collector: CapturingCollector,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with caplog.at_level(logging.WARNING, logger="asyncexp.integrations.openfeature"):
        flags.track("purchase", EvaluationContext(None, {"age": 3}), TrackingEventDetails(1.0))

        def broken(*args: Any) -> Any:
            raise RuntimeError("boom")

        monkeypatch.setattr(client, "create_user_context", broken)
        flags.track("purchase", EvaluationContext("user1"))
    assert collector.events == []
    messages = [r.getMessage() for r in caplog.records]
    assert any("no targeting key" in m for m in messages)
    assert any("tracking 'purchase' failed" in m for m in messages)


# -- lifecycle ------------------------------------------------------------------------
def test_datafile_updates_are_configuration_changed_events(client: Client) -> None:
    got: list[EventDetails] = []
    arrived = threading.Event()

    def handler(details: EventDetails) -> None:
        got.append(details)
        arrived.set()

    api.add_handler(ProviderEvent.PROVIDER_CONFIGURATION_CHANGED, handler)
    api.set_provider_and_wait(AsyncExpProvider(client))
    client.notifications.send(NotificationType.CONFIG_UPDATE)
    assert arrived.wait(5)
    assert got[0].provider_name == "asyncexp"
    assert got[0].metadata == {"revision": "7"}
    api.shutdown()
    assert not client.notifications.has_listeners(NotificationType.CONFIG_UPDATE)


async def test_by_default_the_provider_does_not_close_the_client(
    client: Client, collector: CapturingCollector
) -> None:
    provider = AsyncExpProvider(client)
    api.set_provider_and_wait(provider)
    api.shutdown()
    await provider.wait_client()
    assert not client.closed
    assert not collector.started
    assert not collector.closed


async def test_owned_client_is_started_by_openfeature_and_closed_at_shutdown(
    client: Client, collector: CapturingCollector
) -> None:
    provider = AsyncExpProvider(client, owns_client=True)
    loop = asyncio.get_running_loop()
    ready: asyncio.Future[None] = loop.create_future()

    def on_ready(details: EventDetails) -> None:  # runs on OpenFeature's worker thread
        loop.call_soon_threadsafe(lambda: ready.done() or ready.set_result(None))

    api.set_provider(provider)  # initialize runs on an OpenFeature worker thread
    flags = api.get_client()
    # registered after set_provider: a handler fires at once for a provider already
    # READY, so registering earlier would see the previous (default) provider
    flags.add_handler(ProviderEvent.PROVIDER_READY, on_ready)
    try:
        async with asyncio.timeout(30):
            await ready
    finally:
        flags.remove_handler(ProviderEvent.PROVIDER_READY, on_ready)
    assert flags.get_provider_status() == ProviderStatus.READY
    assert collector.started
    api.shutdown()  # on the loop thread: the close is scheduled
    await provider.wait_client()
    assert client.closed
    assert collector.closed


async def test_owned_client_shutdown_from_a_thread_waits_for_the_close(
    client: Client, collector: CapturingCollector
) -> None:
    provider = AsyncExpProvider(client, owns_client=True)
    # on the loop thread the start can only be scheduled: not READY before it ran
    with pytest.raises(ProviderNotReadyError, match="READY follows its start"):
        api.set_provider_and_wait(provider)
    assert api.get_client().get_provider_status() == ProviderStatus.ERROR
    await provider.wait_client()
    assert collector.started
    assert api.get_client().get_provider_status() == ProviderStatus.READY
    await asyncio.to_thread(provider.shutdown)
    assert client.closed
    assert collector.closed


def test_owns_client_needs_a_running_loop(client: Client) -> None:
    with pytest.raises(ClientStateError):
        AsyncExpProvider(client, owns_client=True)


def test_missing_openfeature_raises_missing_extra_error(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(sys.modules):
        if name == "openfeature" or name.startswith("openfeature."):
            monkeypatch.setitem(sys.modules, name, None)
    monkeypatch.delitem(sys.modules, "asyncexp.integrations.openfeature")
    with pytest.raises(MissingExtraError, match=r"asyncexp\[openfeature\]"):
        importlib.import_module("asyncexp.integrations.openfeature")
