"""The Analysys SDK's sample program, ported by changing its imports only.

Runs on its own: ``python examples/migrate_analysys.py``. ``Demo`` below is
the sample program of the Analysys Python SDK's documentation, statement for
statement; only the import line changed (and ``server_url`` points at a local
ingestion server on 127.0.0.1, ``asyncexp.testing.IngestionServer``, instead
of the vendor's). ``main`` is the async wrapper: the SDK runs on the event
loop, and ``analysys_session`` waits for what the program queued to be
delivered when it returns.
"""

from __future__ import annotations

import asyncio

# Was: from argoagent import *
from asyncexp.compat.analysys import AnalysysPythonSdk, DefaultCollecter, analysys_session
from asyncexp.testing import IngestionServer

server_url = "http://127.0.0.1:0"  # set by main() to the local server
python_sdk_platform = "js"
appkey = "fangzhouargo"


class Demo:
    def pythonsdkdemo(self) -> None:
        # 默认方式发送数据,数据逐条发送
        collector = DefaultCollecter(server_url)
        eguan = AnalysysPythonSdk(collector)
        eguan.setAppId(appkey)
        eguan.setDebugMode(1)
        distinct_id = "ABCD123456"
        commodity_properties = {
            "commodity_name": "跑步机",
            "commodity_brand": "zhonghua",
            "commodity_price": 5000,
            "commodity_quality": True,
            "commodity_function": ["run", "记录心率"],
        }
        eguan.track(
            distinct_id,
            "SearchCommodity",
            commodity_properties,
            python_sdk_platform,
            is_login=False,
        )
        eguan.track(distinct_id, "register", None, python_sdk_platform, is_login=False)
        alias_id = "zhangsan"
        eguan.alias(alias_id, distinct_id, python_sdk_platform)
        profile_properties = {
            "sex": "男",
            "phonenumber": "13966667777",
            "email": "zhangsan@example.com",
            "hobby": ["basketball", "听音乐", "mountain-climbing"],
            "is_female": False,
        }
        eguan.profile_set(alias_id, profile_properties, python_sdk_platform, is_login=True)
        super_properties = {
            "commodity_name": "减肥药",
            "commodity_brand": "luomiou",
            "commodity_price": 1000,
            "commodity_quality": True,
        }
        eguan.registerSuperProperties(super_properties)
        purchase_properties = {"Referer": "gouwuche"}
        eguan.track(alias_id, "purchase", purchase_properties, python_sdk_platform, is_login=True)
        payment_properties = {"pay_usage": "Wechat"}
        eguan.track(alias_id, "payment", payment_properties, python_sdk_platform, is_login=True)
        eguan.close()


async def main() -> list[str]:
    """Runs the demo against a local server; returns the ``xwhat`` of each record received."""
    global server_url
    async with IngestionServer() as server:
        server_url = server.url
        async with analysys_session():
            Demo().pythonsdkdemo()
        received = [record["xwhat"] for record in server.records]
    print(f"the server received {len(received)} records: {', '.join(received)}")
    return received


if __name__ == "__main__":
    asyncio.run(main())
