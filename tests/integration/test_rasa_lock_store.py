"""rasa_addons/lock_store.py, inside Rasa's runtime: two Rasa servers' stores exclude each
other through Redis; with Redis unreachable a turn still gets a lock (this server's own)
and the fallback is counted; an error in the turn is not swallowed."""

from __future__ import annotations

import os

import pytest

from tests.cluster_rig import run_in_rasa

pytestmark = pytest.mark.integration

REDIS_PORT = os.environ.get("EXPATBOT_TEST_REDIS_PORT", "6379")

SCRIPT = """
import asyncio, json, sys, time
from rasa.utils.endpoints import EndpointConfig
from rasa_addons.lock_store import RedisOrLocalLockStore
from rasa_addons import metrics

def store(port):
    config = EndpointConfig(url="127.0.0.1", type="rasa_addons.lock_store.RedisOrLocalLockStore",
                            port=port, db=3, key_prefix="locktest", socket_timeout=1)
    return RedisOrLocalLockStore(config)

async def main():
    out = {}
    a, b = store(int(sys.argv[1])), store(int(sys.argv[1]))
    conversation = f"c-{time.time_ns()}"
    order = []
    async def turn(name, s, hold):
        async with s.lock(conversation, lock_lifetime=10, wait_time_in_seconds=0.05):
            order.append(f"{name} in")
            await asyncio.sleep(hold)
            order.append(f"{name} out")
    await asyncio.gather(turn("a", a, 0.3), turn("b", b, 0))
    out["order"] = order
    down = store(1)
    async with down.lock("x") as lock:
        out["fallback_lock"] = lock.conversation_id
    out["fallbacks"] = metrics.LOCK_STORE_FALLBACKS._value.get()
    try:
        async with a.lock("y"):
            raise ValueError("the turn failed")
    except ValueError as error:
        out["propagated"] = str(error)
    print(json.dumps(out))

asyncio.run(main())
"""


def test_the_lock_store_excludes_falls_back_and_propagates() -> None:
    out = run_in_rasa(SCRIPT, REDIS_PORT, timeout=120)
    # The second server waited for the first to finish its turn (Redis's lock).
    assert out["order"] == ["a in", "a out", "b in", "b out"]
    assert out["fallback_lock"] == "x" and out["fallbacks"] == 1.0
    assert out["propagated"] == "the turn failed"
