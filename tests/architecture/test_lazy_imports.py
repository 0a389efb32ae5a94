"""``import asyncexp`` pays only for what is used (issue 20).

Public names load on first use; a client deciding from a static datafile never
imports aiohttp or the AppConfig rule engine. Each check runs in a fresh
interpreter so that other tests' imports cannot hide a regression.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

import asyncexp
import asyncexp.errors


def _modules_after(code: str) -> set[str]:
    probe = code + "\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))\n"
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return set(json.loads(done.stdout.splitlines()[-1]))


def test_import_asyncexp_loads_neither_the_client_nor_the_http_stack() -> None:
    loaded = _modules_after("import asyncexp")
    assert "asyncexp" in loaded
    for heavy in ("aiohttp", "asyncexp.client", "asyncexp.core.appconfig", "asyncexp.aio"):
        assert heavy not in loaded, heavy


def test_a_static_datafile_client_decides_without_aiohttp_or_appconfig() -> None:
    loaded = _modules_after(
        "from asyncexp import Client\n"
        "from asyncexp.examples_data import example_datafile\n"
        "client = Client(datafile=example_datafile())\n"
        "user = client.create_user_context('u1', {'country': 'US'})\n"
        "decisions = user.decide_all()\n"
        "assert decisions and all(d.flag_key for d in decisions.values())\n"
    )
    assert "asyncexp.client" in loaded
    assert "aiohttp" not in loaded
    assert "asyncexp.core.appconfig" not in loaded


def test_appconfig_is_built_on_first_use_and_then_loads_its_engine() -> None:
    loaded = _modules_after(
        "from asyncexp import Client\n"
        "client = Client()\n"
        "assert client.appconfig is client.appconfig\n"
    )
    assert "asyncexp.core.appconfig" in loaded


def test_every_public_name_resolves_and_is_listed() -> None:
    lazy = set(asyncexp._LAZY)
    eager = {name for name in asyncexp.errors.__all__ if name in asyncexp.__all__}
    assert lazy | eager | {"__version__"} == set(asyncexp.__all__)
    for name in asyncexp.__all__:
        assert getattr(asyncexp, name) is not None, name
    assert set(asyncexp.__all__) <= set(dir(asyncexp))
    namespace: dict[str, object] = {}
    exec("from asyncexp import *", namespace)
    assert asyncexp.Client is namespace["Client"]


def test_an_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="NoSuchThing"):
        asyncexp.NoSuchThing  # type: ignore[attr-defined]  # noqa: B018
