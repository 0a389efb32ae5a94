"""The ported Analysys sample program delivers every record it made, in the reference's shape."""

from __future__ import annotations

import pytest

from tests.examples.loading import load_example


async def test_the_analysys_sample_runs_unchanged_apart_from_its_imports(
    capsys: pytest.CaptureFixture[str],
) -> None:
    module = load_example("migrate_analysys")
    received = await module.main()
    # Real-time collector: one request per record, so the order is the call order.
    assert sorted(received) == sorted(
        ["SearchCommodity", "register", "$alias", "$profile_set", "purchase", "payment"]
    )
    assert "the server received 6 records" in capsys.readouterr().out


async def test_the_optimizely_program_behaves_as_with_optimizely_sdk(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The ported program's calls return what optimizely-sdk 5.7.0 returns for the same
    program, and the local server received the events the reference dispatches."""
    import json

    from optimizely import optimizely as reference_module
    from optimizely.event.event_processor import ForwardingEventProcessor

    from asyncexp.examples_data import example_datafile
    from tests.compat.conftest import CapturingDispatcher, same, strip_volatile

    module = load_example("migrate_optimizely")
    outcome, batches = await module.main()

    dispatcher = CapturingDispatcher()
    reference = reference_module.Optimizely(
        datafile=example_datafile(),
        event_dispatcher=dispatcher,
        event_processor=ForwardingEventProcessor(dispatcher),
    )
    expected = module.Outcome()
    try:
        module.run_service(reference, expected)
    finally:
        reference.close()

    assert outcome.activated["user_00915"] == "treatment_1"  # whitelisted
    assert outcome.forced == outcome.activated["qa-user"] == "treatment_1"
    assert outcome.flags_in_config == 50
    for name in ("revision", "activated", "enabled_features", "decisions", "forced", "tracked"):
        assert same(getattr(outcome, name), getattr(expected, name)), name
    assert outcome.notifications == expected.notifications
    assert {"flag", "feature", "feature-test", "feature-variable"} <= set(outcome.notifications)

    def canonical(payloads: list[dict[str, object]]) -> list[str]:
        return sorted(json.dumps(strip_volatile(p), sort_keys=True) for p in payloads)

    assert len(batches) > len(module.USERS)
    assert canonical(batches) == canonical([e.params for e in dispatcher.events])
    assert "conversions" in capsys.readouterr().out
