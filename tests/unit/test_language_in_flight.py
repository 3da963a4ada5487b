"""Two messages of one conversation sent at once, right after a language switch.

Found while checking issue 9 ("under load, replies right after a language switch were in
the old language"): a message sent while the switching message was still at Rasa read
the old language, was answered in it, and wrote it back over the switch. With the
inbox's lease (bot.pipeline.inbox) a chat has one turn at a time: the second message
waits until the switch is answered, then reads the new language and is answered in it.
"""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy.orm import Session, sessionmaker

from bot.messages import Inbound
from bot.nlu.rasa_runtime import domain_intents
from bot.pipeline.assistant import Assistant
from bot.pipeline.rasa_client import RasaClient
from tests.fakes.gated_rasa import GatedRasa
from tests.helpers import new_id


def inbound(text: str) -> Inbound:
    return Inbound(message_id=new_id(), channel="webchat", external_id="u1", text=text, kind="text")


async def test_a_message_sent_during_a_switch_waits_for_it_and_is_answered_in_the_new_language(
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
    # Sent right after the switch, while the switch is still being answered: it waits.
    in_flight = asyncio.create_task(assistant.handle(inbound("ok")))
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(rasa.arrived["ok"].wait(), timeout=0.5)
    rasa.release[switch_text].set()
    (switched,) = await switch
    await rasa.arrived["ok"].wait()  # now it is the chat's turn
    rasa.release["ok"].set()
    (answered,) = await in_flight
    (later,) = await assistant.handle(inbound("ok"))
    assert switched.language == "ru"
    assert answered.language == "ru"
    assert later.language == "ru"
