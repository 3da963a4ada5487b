"""rasa_addons/action_session.py, inside Rasa's runtime: Rasa's calls to the action
server reuse one kept-open connection instead of opening one per call, with the same
headers, token and answers; a connection the server closed is replaced, not failed on."""

from __future__ import annotations

import pytest

from tests.cluster_rig import run_in_rasa

pytestmark = pytest.mark.integration

SCRIPT = """
import asyncio, json
from aiohttp import web
from rasa.utils.endpoints import EndpointConfig
from rasa_addons import action_session

seen = []  # per request: the client's port (one per connection), its credentials

async def webhook(request):
    peer = request.transport.get_extra_info("peername")
    seen.append((peer[1], request.headers.get("Authorization"), request.query.get("token")))
    body = await request.json()
    # After the second call the server ends the kept-alive connection.
    headers = {"Connection": "close"} if body["n"] == 2 else {}
    return web.json_response({"echo": body["n"]}, headers=headers)

async def main():
    app = web.Application()
    app.router.add_post("/webhook", webhook)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    endpoint = EndpointConfig(
        f"http://127.0.0.1:{port}/webhook", token="t0k", headers={"Authorization": "Bearer x"}
    )
    out = {}
    for label in ("rasa", "ours"):
        if label == "ours":
            action_session.install()
        before = len(seen)
        answers = []
        for n in range(1, 6):
            answers.append((await endpoint.request(json={"n": n}))["echo"])
            await asyncio.sleep(0.05)
        mine = seen[before:]
        out[label] = {"answers": answers, "connections": len({p for p, _, _ in mine}),
                      "auth": sorted({(a, t) for _, a, t in mine})}
    await runner.cleanup()
    print(json.dumps(out))

asyncio.run(main())
"""


def test_one_kept_connection_with_the_same_requests_and_answers() -> None:
    out = run_in_rasa(SCRIPT)
    # Rasa's own: a connection per call.
    assert out["rasa"]["answers"] == [1, 2, 3, 4, 5]
    assert out["rasa"]["connections"] == 5
    # Ours: the same answers, the same token and headers, one connection until the server
    # closed it after the second call, then one more.
    assert out["ours"]["answers"] == [1, 2, 3, 4, 5]
    assert out["ours"]["auth"] == out["rasa"]["auth"] == [["Bearer x", "t0k"]]
    assert out["ours"]["connections"] == 2
