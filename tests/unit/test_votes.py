"""Votes on answers (issue 9, item 10): only for an answer this chat was shown, once."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from bot import texts
from bot.db import conversations
from bot.db.models import AnswerVote, Message
from bot.i18n import gettext
from bot.messages import Inbound
from bot.pipeline.assistant import Assistant
from tests.conftest import FakeRasa
from tests.helpers import new_id

TOPIC = "faq_visa_extension"


def inbound(text: str, *, user: str = "u1", kind: str = "text") -> Inbound:
    return Inbound(message_id=new_id(), channel="webchat", external_id=user, text=text, kind=kind)  # type: ignore[arg-type]


def answer_with_vote_buttons(body: dict[str, Any]) -> httpx.Response:
    """What actions/faq.py sends with every answer: the two vote buttons."""
    lang = body["metadata"]["language"]
    buttons = [
        {"title": "Helpful", "payload": f"/vote {TOPIC} 1"},
        {"title": "Not helpful", "payload": f"/vote {TOPIC} 0"},
    ]
    turn = {"intent": TOPIC, "confidence": 0.95, "language": lang}
    return httpx.Response(
        200,
        json=[
            {"recipient_id": body["sender"], "text": "How to extend a visa", "buttons": buttons},
            {"recipient_id": body["sender"], "custom": {"turn": turn}},
        ],
    )


@pytest.fixture
def shows_answers(fake_rasa: FakeRasa) -> FakeRasa:
    fake_rasa.handler = answer_with_vote_buttons
    return fake_rasa


def votes(sessions: sessionmaker[Session]) -> dict[tuple[str, str], tuple[int, int]]:
    with sessions() as s:
        return conversations.vote_counts(s)


def statuses(sessions: sessionmaker[Session]) -> list[str]:
    with sessions() as s:
        rows = s.scalars(select(Message).where(Message.direction == "in").order_by(Message.id))
        return [m.status for m in rows]


async def test_a_vote_on_a_shown_answer_is_stored_and_not_helpful_offers_a_person(
    assistant: Assistant, sessions: sessionmaker[Session], shows_answers: FakeRasa
) -> None:
    await assistant.handle(inbound("Как продлить визу в Иу?"))
    await assistant.handle(inbound("Как продлить визу в Иу?", user="u2"))
    (up,) = await assistant.handle(inbound(f"/vote {TOPIC} 1", kind="button"))
    (down,) = await assistant.handle(inbound(f"/vote {TOPIC} 0", user="u2", kind="button"))
    assert up.text == gettext("ru", texts.THANKS_FOR_FEEDBACK) and up.language == "ru"
    assert down.text == gettext("ru", texts.NOT_HELPFUL_REPLY, hotline="12367")
    assert votes(sessions) == {(TOPIC, "ru"): (1, 1)}
    assert len(shows_answers.requests) == 2  # votes never reach Rasa


@pytest.mark.parametrize(
    "payload",
    [
        "/vote faq_doesnotexist 1",
        "/vote faq_<script>alert(1)</script> 1",
        "/vote faq_emergency 0",  # a real topic, but never shown to this chat
    ],
)
async def test_a_vote_on_an_answer_never_shown_is_not_counted(
    assistant: Assistant, sessions: sessionmaker[Session], shows_answers: FakeRasa, payload: str
) -> None:
    await assistant.handle(inbound("Comment prolonger mon visa ?"))
    (reply,) = await assistant.handle(inbound(payload, kind="button"))
    assert reply.text == gettext("fr", texts.VOTE_NOT_COUNTED) and reply.language == "fr"
    assert votes(sessions) == {}
    assert statuses(sessions) == ["answered", "rejected"]
    assert len(shows_answers.requests) == 1


async def test_a_vote_needs_the_answer_shown_to_this_chat_not_another(
    assistant: Assistant, sessions: sessionmaker[Session], shows_answers: FakeRasa
) -> None:
    await assistant.handle(inbound("How do I extend my visa?", user="shown"))
    (reply,) = await assistant.handle(inbound(f"/vote {TOPIC} 1", user="other", kind="button"))
    assert reply.text == gettext("en", texts.VOTE_NOT_COUNTED)
    assert votes(sessions) == {}


async def test_a_repeated_vote_is_not_counted(
    assistant: Assistant, sessions: sessionmaker[Session], shows_answers: FakeRasa
) -> None:
    await assistant.handle(inbound("¿Cómo puedo prorrogar mi visado?"))
    await assistant.handle(inbound(f"/vote {TOPIC} 1", kind="button"))
    (again,) = await assistant.handle(inbound(f"/vote  {TOPIC}  1", kind="button"))
    assert again.text == gettext("es", texts.ALREADY_RATED)
    # Changing one's mind to "not helpful" is not counted either, but still offers a person.
    already, offer = await assistant.handle(inbound(f"/vote {TOPIC} 0", kind="button"))
    assert already.text == gettext("es", texts.ALREADY_RATED)
    assert offer.text == gettext("es", texts.NOT_HELPFUL_REPLY, hotline="12367")
    # The same answer shown again is still the same answer: one vote per chat and topic.
    await assistant.handle(inbound("¿Cómo puedo prorrogar mi visado?"))
    (third,) = await assistant.handle(inbound(f"/vote {TOPIC} 1", kind="button"))
    assert third.text == gettext("es", texts.ALREADY_RATED)
    assert votes(sessions) == {(TOPIC, "es"): (1, 0)}
    expected = ["answered", "answered", "rejected", "rejected", "answered", "rejected"]
    assert statuses(sessions) == expected


async def test_simultaneous_votes_count_once(
    assistant: Assistant, sessions: sessionmaker[Session], shows_answers: FakeRasa
) -> None:
    """A double tap, or a script sending the same vote many times at once."""
    await assistant.handle(inbound("How do I extend my visa?"))
    await asyncio.gather(
        *(assistant.handle(inbound(f"/vote {TOPIC} 1", kind="button")) for _ in range(8))
    )
    with sessions() as s:
        assert s.scalar(select(func.count()).select_from(AnswerVote)) == 1
