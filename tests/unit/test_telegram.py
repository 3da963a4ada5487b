"""The real python-telegram-bot client, polling a local fake of the Bot API over HTTP."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
import uvicorn

from bot import texts
from bot.channels.telegram import build_application, set_commands
from bot.i18n import gettext
from bot.pipeline.assistant import Assistant
from tests.conftest import FakeRasa
from tests.fakes.telegram_api import FakeTelegram
from tests.helpers import free_port

TOKEN = "123456:TEST-token"


@pytest.fixture
async def telegram(assistant: Assistant) -> AsyncIterator[FakeTelegram]:
    fake = FakeTelegram(TOKEN)
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(fake.app, host="127.0.0.1", port=port, log_level="error")
    )
    serve = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.02)
    app = build_application(TOKEN, assistant, base_url=f"http://127.0.0.1:{port}/bot")
    await app.initialize()
    await set_commands(app)
    await app.start()
    assert app.updater is not None
    await app.updater.start_polling(poll_interval=0.0, timeout=1)
    try:
        yield fake
    finally:
        await app.updater.stop()
        await app.stop()
        await app.shutdown()
        server.should_exit = True
        await serve


async def test_text_message_gets_typing_then_html_reply(
    telegram: FakeTelegram, fake_rasa: FakeRasa
) -> None:
    telegram.push_text(555, "Визу <b>срочно</b> продлить как?", language_code="ru")
    (sent,) = await telegram.wait_for("sendMessage", 1)
    assert sent["parse_mode"] == "HTML"
    assert "&lt;b&gt;" in sent["text"]  # the user's markup came back escaped, never as HTML
    methods = [name for name, _ in telegram.calls if name in {"sendChatAction", "sendMessage"}]
    assert methods[:2] == ["sendChatAction", "sendMessage"]
    assert fake_rasa.requests[0]["metadata"] == {"language": "ru", "channel": "telegram"}


async def test_commands_menu_is_set_in_every_language(telegram: FakeTelegram) -> None:
    calls = telegram.sent("setMyCommands")
    assert len(calls) == 6
    ru = next(c for c in calls if c.get("language_code") == "ru")
    assert {"command": "language", "description": gettext("ru", texts.COMMAND_LANGUAGE)} in ru[
        "commands"
    ]


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
    import httpx

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
