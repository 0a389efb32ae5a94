"""The config view reads by the object model's camelCase keys, as the Eyeofcloud page does.

``config['revision']``, ``config['featuresMap'][key]['deliveryRules']`` and so
on give the same values as the snake_case attributes; walking every view by
its keys gives exactly ``to_dict()`` (which the config-view compat suite
compares with optimizely-sdk's ``OptimizelyConfig``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from asyncexp.client import Client
from asyncexp.compat.optimizely import Optimizely
from asyncexp.examples_data import example_datafile
from asyncexp.flags.config_view_audiences import KeyedView
from tests.compat.datafile_gen import generate_datafile


def _read(value: Any) -> Any:
    """Everything reachable by keys, as plain data."""
    if isinstance(value, KeyedView):
        return {key: _read(value[key]) for key in value}
    if isinstance(value, Mapping):
        return {key: _read(item) for key, item in value.items()}
    if isinstance(value, tuple | list):
        return [_read(item) for item in value]
    return value


@pytest.mark.parametrize("seed", range(10))
def test_reading_by_keys_gives_to_dict(seed: int) -> None:
    view = Client(datafile=generate_datafile(seed)).get_config()
    assert view is not None
    assert _read(view) == view.to_dict()


def test_the_eyeofcloud_page_sample_reads_the_config() -> None:
    """The page's sample, statement for statement (Ruby hash reads, in Python)."""
    facade = Optimizely(example_datafile(), collector=None)
    config = facade.get_optimizely_config()
    assert config is not None
    assert config["revision"] == config.revision
    assert config["sdkKey"] == config.sdk_key
    assert config["environmentKey"] == config.environment_key
    assert config["audiences"] == config.audiences
    assert config["attributes"] == config.attributes
    assert config["events"] == config.events
    features_map = config["featuresMap"]
    assert list(features_map.keys()) == list(config.features_map)
    seen_variables = 0
    for flag_key in features_map:
        flag = features_map[flag_key]
        delivery_rules = flag["deliveryRules"]
        experiment_rules = flag["experimentRules"]
        for experiment in experiment_rules:
            assert isinstance(experiment["key"], str)
            assert isinstance(experiment["audiences"], str)
            variations_map = experiment["variationsMap"]
            for variation_key in variations_map:
                variation = variations_map[variation_key]
                variables_map = variation["variablesMap"]
                for variable_key in variables_map:
                    variable = variables_map[variable_key]
                    assert variable["key"] == variable_key
                    assert variable["value"] == variable.value
                    seen_variables += 1
        for delivery in delivery_rules:
            assert delivery["key"] == delivery.key
    assert seen_variables > 0


def test_unknown_keys_and_dict_helpers() -> None:
    view = Client(datafile=generate_datafile(1)).get_config()
    assert view is not None
    with pytest.raises(KeyError):
        view["features_map"]  # the snake_case name is an attribute, not a key
    with pytest.raises(KeyError):
        view[0]  # type: ignore[index]
    assert view.get("nope") is None
    assert view.get("revision") == view.revision
    assert "featuresMap" in view
    assert "features_map" not in view
    assert view.keys() == list(view.to_dict())
    feature = next(iter(view.features_map.values()))
    assert dict(feature)["deliveryRules"] is feature.delivery_rules
    assert list(feature) == [
        "id",
        "key",
        "experimentRules",
        "deliveryRules",
        "experimentsMap",
        "variablesMap",
    ]
