"""Deliberate type errors: ``test_public_types.py`` checks that mypy reports each one.

Each ``# expect: TEXT`` comment means: ``mypy --strict`` reports an error on the
next line whose message contains TEXT; and mypy reports no other error.
"""

from __future__ import annotations

from asyncexp import AppConfigOptions, Client, OdpOptions, ProfileOptions, RefreshResult

# expect: Argument "odp_options" to "Client" has incompatible type "dict[str, int]"
Client(sdk_key="k", odp_options={"cache_sise": 10})
# expect: Argument "vendor" to "Client" has incompatible type "Literal['optimizly']"
Client(sdk_key="k", vendor="optimizly")
# expect: Argument "odp_options" to "Client" has incompatible type "dict[str, str]"
Client(sdk_key="k", odp_options={"cache_size": "10"})
# expect: Argument "sdk_key" to "Client" has incompatible type "int"
Client(sdk_key=123)
# expect: Argument "update_interval" to "Client" has incompatible type "str"
Client(sdk_key="k", update_interval="5")
# expect: Extra key "cache_sise" for TypedDict "OdpOptions"
odp: OdpOptions = {"cache_sise": 10}
# expect: Extra key "poll_intervall" for TypedDict "AppConfigOptions"
options: AppConfigOptions = {"poll_intervall": 5.0}
# expect: TypedDict item "host" has type "str | None"
odp_host: OdpOptions = {"host": 5}
# expect: Argument "profile_options" to "Client" has incompatible type "dict[str, int]"
Client(sdk_key="k", profile_options={"concurency": 4})
# expect: Extra key "load_timout" for TypedDict "ProfileOptions"
profile: ProfileOptions = {"load_timout": 1.0}
# expect: TypedDict item "concurrency" has type "int"
profile_type: ProfileOptions = {"concurrency": "16"}


async def refresh(client: Client) -> bool:
    result: RefreshResult = await client.refresh()
    # expect: Non-overlapping equality check
    return result == "updated"
