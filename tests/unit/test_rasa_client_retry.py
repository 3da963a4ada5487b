"""The Rasa client sends a message once more when the connection closed without an
answer (a proxy dropping a kept-alive connection to a server that died), and only then:
the channel answers a message id it has seen with its recorded replies, so a second
sending never doubles a turn; other failures are not retried."""

from __future__ import annotations

import httpx
import pytest

from bot.errors import RasaUnavailable
from bot.pipeline.rasa_client import RasaClient

REPLY = [{"recipient_id": "s", "text": "Here is how."}]


def client(failures: list[type[Exception]]) -> tuple[RasaClient, list[dict[str, object]]]:
    seen: list[dict[str, object]] = []

    def handle(request: httpx.Request) -> httpx.Response:
        import json

        seen.append(json.loads(request.content))
        if failures:
            raise failures.pop(0)("closed", request=request)
        return httpx.Response(200, json=REPLY)

    return RasaClient("http://rasa.test", transport=httpx.MockTransport(handle)), seen


async def send(rasa: RasaClient) -> list[str]:
    turn = await rasa.send(sender="s", text="visa?", language="en", channel="webchat", message_id=7)
    return [r.text for r in turn.replies]


async def test_a_connection_closed_without_an_answer_is_sent_again_once() -> None:
    rasa, seen = client([httpx.RemoteProtocolError])
    assert await send(rasa) == ["Here is how."]
    assert len(seen) == 2 and seen[0] == seen[1]  # the same message id both times
    assert seen[1]["metadata"] == {"language": "en", "channel": "webchat", "message": 7}


async def test_closed_twice_is_unavailable() -> None:
    rasa, seen = client([httpx.RemoteProtocolError, httpx.RemoteProtocolError])
    with pytest.raises(RasaUnavailable, match="RemoteProtocolError"):
        await send(rasa)
    assert len(seen) == 2


@pytest.mark.parametrize("error", [httpx.ReadTimeout, httpx.ConnectError, httpx.ReadError])
async def test_other_failures_are_not_sent_again(error: type[Exception]) -> None:
    rasa, seen = client([error])
    with pytest.raises(RasaUnavailable):
        await send(rasa)
    assert len(seen) == 1


async def test_at_most_max_in_flight_turns_are_at_rasa_at_once() -> None:
    import asyncio

    at_rasa = peak = 0
    release = asyncio.Event()

    async def handle(request: httpx.Request) -> httpx.Response:
        nonlocal at_rasa, peak
        at_rasa += 1
        peak = max(peak, at_rasa)
        await release.wait()
        at_rasa -= 1
        return httpx.Response(200, json=REPLY)

    class Slow(httpx.AsyncBaseTransport):
        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            return await handle(request)

    rasa = RasaClient("http://rasa.test", transport=Slow(), max_in_flight=2)
    turns = [asyncio.create_task(send(rasa)) for _ in range(5)]
    await asyncio.sleep(0.1)
    assert (at_rasa, peak) == (2, 2)  # three wait in the gateway
    release.set()
    assert [await t for t in turns] == [["Here is how."]] * 5
    assert peak == 2
