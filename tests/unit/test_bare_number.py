"""A message that is only a number (issue 9, item 13): a clarifying question, not Rasa's
guess, unless the assistant has just asked for a number."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bot import texts
from bot.db import transaction
from bot.db.models import ChatIdentity, Message
from bot.i18n import gettext
from bot.messages import Inbound
from bot.pipeline.assistant import Assistant
from bot.pipeline.handlers.bare_number import is_bare_number
from tests.conftest import FakeRasa
from tests.helpers import new_id

BARE = [
    "123",
    " 123 ",
    "12 34 56",
    "12-34",
    "2016 1234 5678",  # a card number typed out of the blue
    "+86 138 0013 8000",
    "#452",
    "＃４５２",  # full-width
    "٣٤٥",  # Arabic-Indic
    "۱۲۳",  # Extended Arabic-Indic (Persian keyboards)
    "1\u200b23",  # a zero-width space inside
    "123 – 456",
]
NOT_BARE = ["123 visa", "visa 123", "ticket #452", "M2", "YW 2016 1234 56", "12/05/1990", "-", ""]


@pytest.mark.parametrize("text", BARE)
def test_bare_numbers(text: str) -> None:
    assert is_bare_number(text)


@pytest.mark.parametrize("text", NOT_BARE)
def test_numbers_with_words_or_other_signs_are_not_bare(text: str) -> None:
    assert not is_bare_number(text)


def inbound(text: str, *, client: str | None = None) -> Inbound:
    return Inbound(
        message_id=new_id(), channel="webchat", external_id="u1", text=text, client_language=client
    )


def set_awaiting(sessions: sessionmaker[Session], awaiting: str) -> None:
    """What the link form leaves after its question (actions report it, the pipeline stores it)."""
    with transaction(sessions) as s:
        identity = s.scalars(select(ChatIdentity)).one()
        identity.awaiting = awaiting


@pytest.mark.parametrize("number", ["123", "+86 138 0013 8000", "٣٤٥"])
async def test_a_bare_number_gets_a_question_in_the_conversations_language(
    assistant: Assistant, sessions: sessionmaker[Session], fake_rasa: FakeRasa, number: str
) -> None:
    await assistant.handle(inbound("Здравствуйте, как продлить визу?"))
    (reply,) = await assistant.handle(inbound(number))
    assert reply.text == gettext("ru", texts.ONLY_A_NUMBER) and reply.language == "ru"
    assert [(b.title, b.payload) for b in reply.buttons] == [(gettext("ru", texts.MENU), "/help")]
    assert len(fake_rasa.requests) == 1  # Rasa is not asked
    with sessions() as s:
        rows = list(s.scalars(select(Message).order_by(Message.id)))
    assert [(m.direction, m.status) for m in rows[2:]] == [("in", "answered"), ("out", "sent")]
    assert rows[3].buttons == [{"title": gettext("ru", texts.MENU), "payload": "/help"}]


async def test_a_bare_number_as_the_first_message_uses_the_clients_language(
    assistant: Assistant, fake_rasa: FakeRasa
) -> None:
    (reply,) = await assistant.handle(inbound("123", client="es-419"))
    assert reply.text == gettext("es", texts.ONLY_A_NUMBER)
    assert fake_rasa.requests == []


@pytest.mark.parametrize(
    ("awaiting", "number"),
    [("card_number", "2016 1234 5678"), ("card_number", "123"), ("passport_last4", "1234")],
)
async def test_a_number_the_assistant_asked_for_goes_to_rasa(
    assistant: Assistant,
    sessions: sessionmaker[Session],
    fake_rasa: FakeRasa,
    awaiting: str,
    number: str,
) -> None:
    await assistant.handle(inbound("I want to link my merchant card please"))
    set_awaiting(sessions, awaiting)
    replies = await assistant.handle(inbound(number))
    assert len(fake_rasa.requests) == 2
    assert replies[0].text != gettext("en", texts.ONLY_A_NUMBER)
