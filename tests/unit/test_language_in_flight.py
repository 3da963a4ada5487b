"""Two messages of one conversation in flight at once, right after a language switch.

Found while checking issue 9 ("under load, replies right after a language switch were in
the old language"). The gateway reads the conversation's language when it stores a
message and writes the language it decided back when it stores the reply. A message sent
while the switching message is still at Rasa therefore reads the old language, is
answered in it, and then wrote it back over the switch. Now a message writes the
conversation's language only when it decided it itself (a choice or a detection), and
only as the newest message handled (bot/pipeline/assistant.py, Assistant._reply). The reply to the
message in flight is still in the old language: only one turn at a time per
conversation (the inbox lease of DESIGN.md) would change that.
"""

from __future__ import annotations

import asyncio
import json

import httpx
from sqlalchemy.orm import Session, sessionmaker

from bot.messages import Inbound
from bot.nlu.rasa_runtime import domain_intents
from bot.pipeline.assistant import Assistant
from bot.pipeline.rasa_client import RasaClient


class GatedRasa(httpx.AsyncBaseTransport):
    """A fake Rasa that says when a message arrived and holds its reply until released."""

    def __init__(self, *held: str) -> None:
        self.arrived = {text: asyncio.Event() for text in held}
        self.release = {text: asyncio.Event() for text in held}

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        if body["message"] in self.arrived:
            self.arrived[body["message"]].set()
            await self.release[body["message"]].wait()
        lang = body["metadata"]["language"]
        turn = {"intent": "greet", "confidence": 0.9, "language": lang}
        return httpx.Response(
            200,
            json=[
                {"recipient_id": body["sender"], "text": f"reply to {body['message']}"},
                {"recipient_id": body["sender"], "custom": {"turn": turn}},
            ],
        )


def inbound(text: str) -> Inbound:
    return Inbound(channel="webchat", external_id="u1", text=text, kind="text")


async def test_a_message_in_flight_does_not_undo_a_language_switch(
    sessions: sessionmaker[Session],
) -> None:
    switch_text = "Здравствуйте, подскажите как продлить визу"
    rasa = GatedRasa(switch_text, "ok")
    assistant = Assistant(
        sessions=sessions,
        rasa=RasaClient("http://rasa.test", transport=rasa),
        intents=domain_intents(),
        registry_key=b"test-registry-key",
    )
    await assistant.handle(inbound("Hello, how do I extend my visa please?"))
    switch = asyncio.create_task(assistant.handle(inbound(switch_text)))
    await rasa.arrived[switch_text].wait()
    # Sent right after the switch, while the switch is still being answered.
    in_flight = asyncio.create_task(assistant.handle(inbound("ok")))
    await rasa.arrived["ok"].wait()
    rasa.release[switch_text].set()
    (switched,) = await switch
    rasa.release["ok"].set()
    await in_flight
    (later,) = await assistant.handle(inbound("ok"))  # nothing in flight any more
    assert switched.language == "ru"
    assert later.language == "ru"
