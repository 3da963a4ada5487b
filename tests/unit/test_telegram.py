"""The real python-telegram-bot client, polling a local fake of the Bot API over HTTP;
every reply leaves through the outbox and the channel's deliver."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bot import texts
from bot.db.models import Message, Outbox
from bot.i18n import gettext
from bot.pipeline.assistant import Assistant
from tests.conftest import FakeRasa
from tests.fakes.telegram_api import FakeTelegram
from tests.telegram_rig import telegram_rig


@pytest.fixture
async def telegram(assistant: Assistant) -> AsyncIterator[FakeTelegram]:
    async with telegram_rig(assistant) as rig:
        yield rig.fake


async def test_text_message_gets_typing_then_html_reply(
    telegram: FakeTelegram, fake_rasa: FakeRasa
) -> None:
    telegram.push_text(555, "Визу <b>срочно</b> продлить как?", language_code="ru")
    (sent,) = await telegram.wait_for("sendMessage", 1)
    assert sent["parse_mode"] == "HTML"
    assert "&lt;b&gt;" in sent["text"]  # the user's markup came back escaped, never as HTML
    methods = [name for name, _ in telegram.calls if name in {"sendChatAction", "sendMessage"}]
    assert methods[:2] == ["sendChatAction", "sendMessage"]
    metadata = fake_rasa.requests[0]["metadata"]
    assert {k: metadata[k] for k in ("language", "channel")} == {
        "language": "ru",
        "channel": "telegram",
    }
    assert isinstance(metadata["message"], int)


async def test_the_reply_is_stored_with_its_outbox_row_delivered(
    telegram: FakeTelegram, sessions: sessionmaker[Session]
) -> None:
    telegram.push_text(560, "How do I extend my visa?")
    await telegram.wait_for("sendMessage", 1)
    for _ in range(100):  # the sender records the result right after Telegram's answer
        with sessions() as s:
            if s.scalar(select(Outbox.status)) == "delivered":
                break
        await asyncio.sleep(0.05)
    with sessions() as s:
        (row,) = s.scalars(select(Outbox)).all()
        reply = s.get(Message, row.message_id)
        assert (row.status, row.kind, row.recipient, row.attempts) == (
            "delivered",
            "reply",
            "560",
            1,
        )
        assert reply is not None and reply.direction == "out" and reply.status == "delivered"
        question = s.get(Message, reply.reply_to_id)
        assert question is not None and question.status == "answered"
        assert question.channel_message_id is not None and question.channel_message_id.isdigit()


async def test_commands_menu_is_set_in_every_language(telegram: FakeTelegram) -> None:
    calls = telegram.sent("setMyCommands")
    assert len(calls) == 6
    ru = next(c for c in calls if c.get("language_code") == "ru")
    assert {"command": "language", "description": gettext("ru", texts.COMMAND_LANGUAGE)} in ru[
        "commands"
    ]


async def test_polling_asks_only_for_the_updates_it_handles(telegram: FakeTelegram) -> None:
    await telegram.wait_for("getUpdates", 1)
    assert telegram.sent("getUpdates")[0]["allowed_updates"] == ["message", "callback_query"]


async def test_start_command_goes_to_rasa_as_greet(
    telegram: FakeTelegram, fake_rasa: FakeRasa
) -> None:
    telegram.push_text(556, "/start", language_code="es")
    await telegram.wait_for("sendMessage", 1)
    assert fake_rasa.requests[0]["message"] == "/greet"
    assert fake_rasa.requests[0]["metadata"]["language"] == "es"


async def test_buttons_become_inline_keyboard_and_presses_are_answered(
    telegram: FakeTelegram, fake_rasa: FakeRasa
) -> None:
    telegram.push_text(557, "/language", language_code="fr")
    await telegram.wait_for("sendMessage", 1)
    telegram.push_button(557, "/language ar")
    sent = await telegram.wait_for("sendMessage", 2)
    assert telegram.sent("answerCallbackQuery")
    assert sent[1]["text"] == gettext("ar", texts.LANGUAGE_CHANGED)


async def test_language_picker_keyboard(telegram: FakeTelegram, fake_rasa: FakeRasa) -> None:
    fake_rasa.handler = lambda body: httpx.Response(
        200,
        json=[
            {
                "recipient_id": body["sender"],
                "text": "Choose",
                "buttons": [
                    {"title": "English", "payload": "/language en"},
                    {"title": "中文", "payload": "/language zh"},
                ],
            }
        ],
    )
    telegram.push_text(558, "change language please")
    (sent,) = await telegram.wait_for("sendMessage", 1)
    keyboard = sent["reply_markup"]["inline_keyboard"]
    assert [b["callback_data"] for row in keyboard for b in row] == ["/language en", "/language zh"]


async def test_sticker_gets_clear_answer_without_rasa(
    telegram: FakeTelegram, fake_rasa: FakeRasa
) -> None:
    telegram.push_sticker(559)
    (sent,) = await telegram.wait_for("sendMessage", 1)
    assert sent["text"] == gettext("en", texts.UNSUPPORTED_MEDIA)
    assert fake_rasa.requests == []


async def test_a_photo_captioned_forget_me_is_a_photo(
    telegram: FakeTelegram, fake_rasa: FakeRasa, sessions: sessionmaker[Session]
) -> None:
    """The caption is not a command: no delete dialog, the photo gets the media answer."""
    telegram.push_photo(561, "forget me")
    (sent,) = await telegram.wait_for("sendMessage", 1)
    assert sent["text"] == gettext("en", texts.UNSUPPORTED_MEDIA)
    assert "reply_markup" not in sent  # no "yes, delete" button
    with sessions() as s:
        (photo,) = s.scalars(select(Message).where(Message.direction == "in")).all()
        assert (photo.kind, photo.status) == ("photo", "rejected")


async def test_group_chats_are_not_served(telegram: FakeTelegram, fake_rasa: FakeRasa) -> None:
    """A user's own records must never be shown in a group: group updates are ignored."""
    update = telegram.update(562, "is my card valid?")
    update["message"]["chat"] = {"id": -100123, "type": "supergroup", "title": "Traders"}
    telegram._updates.append(update)
    telegram.push_text(563, "hello")
    (sent,) = await telegram.wait_for("sendMessage", 1)
    assert sent["chat_id"] in (563, "563")
    assert len(fake_rasa.requests) == 1


async def test_forget_me_on_telegram_deletes_the_chat_and_still_confirms(
    telegram: FakeTelegram, fake_rasa: FakeRasa, sessions: sessionmaker[Session]
) -> None:
    telegram.push_text(564, "How do I extend my visa?")
    await telegram.wait_for("sendMessage", 1)
    telegram.push_text(564, "/forget")
    ask = (await telegram.wait_for("sendMessage", 2))[1]
    assert ask["text"] == gettext("en", texts.FORGET_CONFIRM)
    telegram.push_button(564, "/forget yes")
    done = (await telegram.wait_for("sendMessage", 3))[2]
    assert done["text"] == gettext("en", texts.FORGOTTEN)
    with sessions() as s:
        assert s.scalars(select(Message)).all() == []  # the transcript is gone
        left = [r.kind for r in s.scalars(select(Outbox))]
    assert left == ["reply"]  # only the confirmation, sent after the deletion
