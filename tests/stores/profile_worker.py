"""A worker process for ``test_redis_profiles.py``: one client, one Redis, one decision.

``python -m tests.stores.profile_worker REDIS_URL DATAFILE_PATH USER_ID [USER_ID...]``
loads each user's profile from Redis, decides ``checkout``, closes the client (which
drains the write-behind saves) and prints one JSON line: the variation per user
and the client's profile counters.
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

from asyncexp import Client
from asyncexp.stores import RedisConnection, RedisProfileStore
from tests.stores.shared import STICKY_FLAG


async def main(url: str, datafile: str, user_ids: list[str]) -> None:
    store = RedisProfileStore(RedisConnection(url, op_timeout=2.0, connect_timeout=2.0))
    client = Client(datafile=datafile, profile_store=store)
    async with client:
        variations = {}
        for user_id in user_ids:
            user = await client.create_user_context_async(user_id)
            variations[user_id] = user.decide(STICKY_FLAG).variation_key
    print(json.dumps({"variations": variations, "stats": client.profile_stats}), flush=True)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], Path(sys.argv[2]).read_text(), sys.argv[3:]))
