"""The inbound chain, rule by rule: the order of the handlers is the behaviour
(bot/pipeline/chain.py), so each rule has a test that fails if it moves."""

from __future__ import annotations

import httpx
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bot import texts
from bot.db import transaction
from bot.db.models import ChatIdentity, Message
from bot.handoff import modes
from bot.i18n import gettext
from bot.messages import Inbound, Kind, Outbound
from bot.pipeline.assistant import Assistant
from bot.pipeline.chain import build_chain
from bot.pipeline.rasa_client import RasaClient
from tests.conftest import FakeRasa
from tests.helpers import new_id


async def say(
    assistant: Assistant, text: str, *, kind: Kind = "text", user: str = "u1"
) -> list[Outbound]:
    return await assistant.handle(
        Inbound(channel="telegram", external_id=user, message_id=new_id(), text=text, kind=kind)
    )


def inbound_rows(sessions: sessionmaker[Session]) -> list[Message]:
    with sessions() as s:
        return list(s.scalars(select(Message).where(Message.direction == "in")))


def set_mode(sessions: sessionmaker[Session], mode: str, user: str = "u1") -> None:
    with transaction(sessions) as s:
        identity = s.scalar(select(ChatIdentity).where(ChatIdentity.external_id == user))
        assert identity is not None
        assert modes.change_mode(s, identity_id=identity.id, expected=identity.mode, new=mode)


def test_the_order_is_written_once() -> None:
    handlers, last = build_chain(
        sessions=None,  # type: ignore[arg-type]
        rasa=RasaClient("http://rasa.test"),
        intents=frozenset(),
        answers=None,
        max_chars=100,
    )
    assert [type(h).__name__ for h in handlers] + [type(last).__name__] == [
        "NumberedChoice",
        "LanguageChoice",
        "Votes",
        "OfficerView",
        "AnswerDetails",
        "Rating",
        "TicketButtons",
        "DecideLanguage",
        "AccountCommands",
        "HandoffRequest",
        "EndHandoff",
        "ModeRouting",
        "TicketAddition",
        "Evidence",
        "UnsupportedMedia",
        "EmptyMessage",
        "BareNumber",
        "AskRasa",
    ]


async def test_1_a_language_button_is_answered_without_rasa(
    assistant: Assistant, fake_rasa: FakeRasa
) -> None:
    (reply,) = await say(assistant, "/language ru", kind="button")
    assert reply.text == gettext("ru", texts.LANGUAGE_CHANGED)
    assert fake_rasa.requests == []


async def test_1_a_language_choice_wins_even_while_a_person_has_the_chat(
    assistant: Assistant, fake_rasa: FakeRasa, sessions: sessionmaker[Session]
) -> None:
    await say(assistant, "hello there, good morning")
    set_mode(sessions, modes.HUMAN)
    (reply,) = await say(assistant, "/language fr", kind="button")
    assert reply.text == gettext("fr", texts.LANGUAGE_CHANGED)


async def test_2_language_decided_before_account_commands(
    assistant: Assistant, fake_rasa: FakeRasa
) -> None:
    """ "забудьте меня" is answered by the account command, in the language decided for it."""
    (reply,) = await say(assistant, "забудьте меня")
    assert reply.text == gettext("ru", texts.FORGET_CONFIRM)
    assert fake_rasa.requests == []


async def test_3_account_commands_only_from_text_and_buttons(
    assistant: Assistant, fake_rasa: FakeRasa, sessions: sessionmaker[Session]
) -> None:
    """A photo captioned "forget me" is a photo: no delete dialog."""
    (reply,) = await say(assistant, "forget me", kind="photo")
    assert reply.text == gettext("en", texts.UNSUPPORTED_MEDIA)
    assert reply.buttons == ()
    (row,) = inbound_rows(sessions)
    assert (row.kind, row.status) == ("photo", "rejected")


async def test_3_account_commands_work_while_a_person_has_the_chat(
    assistant: Assistant, sessions: sessionmaker[Session]
) -> None:
    await say(assistant, "hello there, good morning")
    set_mode(sessions, modes.HUMAN)
    replies = await say(assistant, "/reminders")
    assert [r.text for r in replies] == [
        gettext("en", texts.REMINDERS_ON),
        gettext("en", texts.REMINDERS_NEED_LINK),
    ]


async def test_4_while_a_person_has_the_chat_rasa_is_not_asked(
    assistant: Assistant, fake_rasa: FakeRasa, sessions: sessionmaker[Session]
) -> None:
    await say(assistant, "hello there, good morning")
    asked = len(fake_rasa.requests)
    for mode in (modes.QUEUED, modes.HUMAN):
        set_mode(sessions, mode)
        assert await say(assistant, "is my visa still valid?") == []
    assert len(fake_rasa.requests) == asked
    statuses = [m.status for m in inbound_rows(sessions)]
    assert statuses == ["answered", "with_staff", "with_staff"]


async def test_4_mode_is_checked_before_media_so_a_photo_reaches_the_person(
    assistant: Assistant, sessions: sessionmaker[Session]
) -> None:
    await say(assistant, "hello there, good morning")
    set_mode(sessions, modes.HUMAN)
    assert await say(assistant, "my contract", kind="photo") == []
    assert inbound_rows(sessions)[-1].status == "with_staff"


async def test_5_media_is_answered_before_the_empty_check(assistant: Assistant) -> None:
    """A sticker has no text: it is still media, not an empty message."""
    (reply,) = await say(assistant, "", kind="sticker")
    assert reply.text == gettext("en", texts.UNSUPPORTED_MEDIA)


async def test_6_empty_and_symbol_only_messages(assistant: Assistant, fake_rasa: FakeRasa) -> None:
    (empty,) = await say(assistant, "   ")
    (symbols,) = await say(assistant, "?!… 🙂")
    assert empty.text == gettext("en", texts.EMPTY_MESSAGE)
    assert symbols.text == gettext("en", texts.NO_WORDS)
    assert fake_rasa.requests == []


async def test_7_a_number_alone_gets_a_question_unless_one_was_asked(
    assistant: Assistant, fake_rasa: FakeRasa, sessions: sessionmaker[Session]
) -> None:
    (reply,) = await say(assistant, "123")
    assert reply.text == gettext("en", texts.ONLY_A_NUMBER)
    assert fake_rasa.requests == []
    (digits_card,) = await say(assistant, "2016001234")  # stored as its reference
    assert digits_card.text == gettext("en", texts.ONLY_A_NUMBER)
    with transaction(sessions) as s:
        identity = s.scalar(select(ChatIdentity))
        assert identity is not None
        identity.awaiting = "passport_last4"
    await say(assistant, "1234")
    assert fake_rasa.requests and fake_rasa.requests[-1]["message"].startswith("passref:l:")


async def test_8_everything_else_goes_to_rasa_last(
    assistant: Assistant, fake_rasa: FakeRasa, sessions: sessionmaker[Session]
) -> None:
    (reply,) = await say(assistant, "How do I extend my visa?")
    assert reply.text.startswith("reply to How do I extend")
    row = inbound_rows(sessions)[0]
    assert fake_rasa.requests[0]["metadata"] == {
        "language": "en",
        "channel": "telegram",
        "message": row.id,
    }
    assert row.status == "answered"


async def test_a_person_taking_the_chat_during_a_turn_silences_the_bot(
    assistant: Assistant, fake_rasa: FakeRasa, sessions: sessionmaker[Session]
) -> None:
    """The mode is checked again when Rasa's answer is stored: staff who took the chat
    while Rasa was thinking are not talked over by the bot."""
    await say(assistant, "hello there, good morning")

    def took_over_meanwhile(body: dict[str, object]) -> httpx.Response:
        set_mode(sessions, modes.HUMAN)
        return FakeRasa.echo_intent(body)  # type: ignore[arg-type]

    fake_rasa.handler = took_over_meanwhile  # type: ignore[assignment]
    assert await say(assistant, "what documents do I need?") == []
    last = inbound_rows(sessions)[-1]
    assert last.status == "with_staff"
    with sessions() as s:
        assert s.scalars(select(Message).where(Message.reply_to_id == last.id)).all() == []


def test_modes_change_only_by_compare_and_set(sessions: sessionmaker[Session]) -> None:
    with transaction(sessions) as s:
        identity = ChatIdentity(channel="telegram", external_id="cas")
        s.add(identity)
        s.flush()
        assert identity.mode == modes.BOT
        assert modes.change_mode(s, identity_id=identity.id, expected="bot", new="queued")
        # A second change from the state the first one saw loses.
        assert not modes.change_mode(s, identity_id=identity.id, expected="bot", new="human")
        assert modes.change_mode(s, identity_id=identity.id, expected="queued", new="human")
        s.refresh(identity)
        assert identity.mode == "human"
