"""``decide`` and ``config`` from a datafile file: the same answers as the library in-process."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import orjson
import pytest

from asyncexp import Client, DecideOption
from asyncexp.cli.decide import parse_attr, parse_attr_json
from tests.cli.helpers import run_cli

ATTRIBUTES: dict[str, Any] = {
    "country": "US",
    "age": 31,
    "plan": "pro",
    "app_version": "2.1.0",
    "is_beta": True,
    "ltv": 12.5,
    "email": "u@example.com",
}
ATTR_ARGS = [
    "--attr=country=US",
    "--attr=age=31",
    "--attr=plan=pro",
    "--attr=app_version=2.1.0",
    "--attr=is_beta=true",
    "--attr=ltv=12.5",
    "--attr=email=u@example.com",
]


def in_process(
    datafile: str, user_id: str, keys: list[str] | None = None, options: list[str] | None = None
) -> Any:
    client = Client(datafile=datafile, odp_disabled=True)
    user = client.create_user_context(user_id, ATTRIBUTES)
    decisions = user.decide_all(options) if keys is None else user.decide_for_keys(keys, options)
    # Through JSON, as the command prints it.
    return orjson.loads(orjson.dumps({k: d.as_dict() for k, d in decisions.items()}))


@pytest.mark.parametrize("user_id", ["user-1", "user-00915", "zhang"])
async def test_decide_all_flags_matches_the_client(
    datafile_path: Path, datafile_text: str, user_id: str
) -> None:
    result = await run_cli(
        "decide", "--datafile", str(datafile_path), "--user", user_id, *ATTR_ARGS
    )
    assert result.code == 0, result.err
    assert result.err == ""
    decisions = result.json()
    assert decisions == in_process(datafile_text, user_id)
    assert list(decisions) == list(in_process(datafile_text, user_id))  # datafile order
    assert any(d["enabled"] for d in decisions.values())


async def test_decide_some_flags_with_reasons_and_options(
    datafile_path: Path, datafile_text: str
) -> None:
    keys = ["search_redesign", "cart_copy_test", "payments_sorting"]
    result = await run_cli(
        "decide",
        "--datafile",
        str(datafile_path),
        "--user",
        "user-7",
        *ATTR_ARGS,
        *(f"--flag={k}" for k in keys),
        "--reasons",
        "--option",
        "EXCLUDE_VARIABLES",
        "--compact",
    )
    assert result.code == 0, result.err
    assert result.out.count("\n") == 1
    options = [DecideOption.EXCLUDE_VARIABLES, DecideOption.INCLUDE_REASONS]
    expected = in_process(datafile_text, "user-7", keys, options)
    assert result.json() == expected
    assert list(result.json()) == keys
    assert all(d["reasons"] for d in expected.values())
    assert all(d["variables"] == {} for d in expected.values())


async def test_decide_unknown_flag_warns_and_says_so(datafile_path: Path) -> None:
    args = ["decide", "--datafile", str(datafile_path), "--user", "u", "--flag", "no_such_flag"]
    result = await run_cli(*args)
    assert result.code == 0
    assert result.json()["no_such_flag"]["reasons"] == ['No flag was found for key "no_such_flag".']
    assert result.err.strip() == "asyncexp: warning: no flag 'no_such_flag' in the datafile"


async def test_decide_reads_the_datafile_from_stdin(datafile_text: str) -> None:
    result = await run_cli(
        "decide",
        "--datafile",
        "-",
        "--user",
        "u",
        "--flag",
        "cart_copy_test",
        "--attr-json",
        'tags=["a", 1]',
        "--attr-json",
        'version="1.2"',
        stdin=datafile_text.encode(),
    )
    assert result.code == 0, result.err
    attributes = result.json()["cart_copy_test"]["user_context"]["attributes"]
    assert attributes == {"tags": ["a", 1], "version": "1.2"}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("age=31", ("age", 31)),
        ("ratio=0.5", ("ratio", 0.5)),
        ("big=1e3", ("big", 1000.0)),
        ("vip=true", ("vip", True)),
        ("off=false", ("off", False)),
        ("note=null", ("note", None)),
        ("country=US", ("country", "US")),
        ("zip=01234", ("zip", "01234")),
        ("version=1.2.0", ("version", "1.2.0")),
        ('tag="x"', ("tag", '"x"')),
        ("list=[1]", ("list", "[1]")),
        ("x=NaN", ("x", "NaN")),
        ("x=Infinity", ("x", "Infinity")),
        ("empty=", ("empty", "")),
        ("eq=a=b", ("eq", "a=b")),
        ("space= 31", ("space", 31)),
    ],
)
def test_attr_typing_rule(text: str, expected: tuple[str, Any]) -> None:
    assert parse_attr(text) == expected


def test_attr_json_and_bad_attrs() -> None:
    assert parse_attr_json('v="1.2"') == ("v", "1.2")
    assert parse_attr_json('o={"a":[1]}') == ("o", {"a": [1]})
    for bad in ("novalue", "=x"):
        with pytest.raises(argparse.ArgumentTypeError, match="KEY=VALUE"):
            parse_attr(bad)
    with pytest.raises(argparse.ArgumentTypeError, match="not a JSON value"):
        parse_attr_json("v=NaN")


async def test_config_matches_the_view(datafile_path: Path, datafile_text: str) -> None:
    result = await run_cli("config", "--datafile", str(datafile_path))
    assert result.code == 0, result.err
    view = Client(datafile=datafile_text, odp_disabled=True).get_config()
    assert view is not None
    assert result.json() == orjson.loads(orjson.dumps(view.to_dict()))
    assert result.json()["featuresMap"]["cart_copy_test"]["key"] == "cart_copy_test"


@pytest.mark.parametrize("command", ["decide", "config"])
@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (None, "cannot read the datafile"),
        (b"{not json", "is invalid: datafile is not valid JSON"),
        (b"[]", "must be a JSON object"),
        (b"\xff\xfe", "not UTF-8"),
        (b'{"version": "1"}', "is invalid"),
    ],
)
async def test_bad_datafiles_are_one_line(
    tmp_path: Path, command: str, content: bytes | None, expected: str
) -> None:
    path = tmp_path / "datafile.json"
    if content is not None:
        path.write_bytes(content)
    extra = ["--user", "u"] if command == "decide" else []
    line = (await run_cli(command, "--datafile", str(path), *extra)).assert_one_line_error(1)
    assert line.startswith(f"asyncexp {command}: error: ")
    assert expected in line


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--attr", "novalue"], "argument --attr: expected KEY=VALUE, got 'novalue'"),
        (["--attr", "=1"], "expected KEY=VALUE"),
        (["--attr-json", "k={bad"], "argument --attr-json: k: not a JSON value"),
        (["--option", "NOPE"], "invalid choice"),
    ],
)
async def test_bad_decide_arguments_are_usage_errors(
    datafile_path: Path, args: list[str], expected: str
) -> None:
    result = await run_cli("decide", "--datafile", str(datafile_path), "--user", "u", *args)
    assert expected in result.assert_one_line_error(2)
    assert result.out == ""
