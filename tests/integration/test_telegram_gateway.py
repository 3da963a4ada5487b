"""The gateway with TELEGRAM_BOT_TOKEN set: python-telegram-bot polls a local fake of the
Bot API, and a Telegram user's question is answered by the real Rasa and action server."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
import uvicorn
import yaml

from bot import texts
from bot.app import create_app
from bot.db import upgrade
from bot.i18n import gettext
from bot.settings import Settings
from tests.fakes.telegram_api import FakeTelegram
from tests.helpers import free_port
from tests.integration.conftest import Stack

pytestmark = pytest.mark.integration
TOKEN = "424242:gateway-test"


async def serve(app: object, port: int) -> tuple[uvicorn.Server, asyncio.Task[None]]:
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error"))  # type: ignore[arg-type]
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.05)
    return server, task


@asynccontextmanager
async def gateway_and_fake_telegram(
    database_url: str, rasa_url: str, **settings: str
) -> AsyncIterator[FakeTelegram]:
    """The gateway app served over HTTP, polling a fake Bot API served over HTTP."""
    fake = FakeTelegram(TOKEN)
    tg_server, tg_task = await serve(fake.app, free_port())
    config = Settings(  # type: ignore[call-arg]
        DATABASE_URL=database_url,
        RASA_URL=rasa_url,
        TELEGRAM_BOT_TOKEN=TOKEN,
        TELEGRAM_BASE_URL=f"http://127.0.0.1:{tg_server.config.port}/bot",
        **settings,
    )
    gw_server, gw_task = await serve(create_app(config), free_port())
    try:
        yield fake
    finally:
        gw_server.should_exit = True
        await gw_task
        tg_server.should_exit = True
        await tg_task


async def test_telegram_user_gets_answer_in_own_language(stack: Stack, tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'tg.db'}"
    upgrade(db)
    async with gateway_and_fake_telegram(db, stack.rasa_url) as fake:
        fake.push_text(
            9001, "Здравствуйте! Что делать, если я потерял паспорт?", language_code="en"
        )
        (sent,) = await fake.wait_for("sendMessage", 1, timeout=60)
        ru = yaml.safe_load((stack.locales / "ru" / "answers.yml").read_text(encoding="utf-8"))
        assert sent["text"].startswith(ru["faq_lost_passport"]["title"].strip())
        assert sent["parse_mode"] == "HTML"
        assert len(fake.sent("setMyCommands")) == 6
        assert fake.sent("sendChatAction")[0]["action"] == "typing"


async def test_telegram_user_links_and_manages_reminders(stack: Stack) -> None:
    """/link through the real python-telegram-bot client, on the stack's database (the
    action server reads the registry from it), then /reminders off with its button."""
    from tests.people import OLGA

    async with gateway_and_fake_telegram(stack.database_url, stack.rasa_url) as fake:
        menus = await fake.wait_for("setMyCommands", 6, timeout=60)
        english = next(m for m in menus if not m.get("language_code"))
        assert {"link", "reminders", "unlink", "forget"} <= {
            c["command"] for c in english["commands"]
        }
        user = 9002
        fake.push_text(user, "/link", language_code="es")
        intro, ask = await fake.wait_for("sendMessage", 2, timeout=60)
        assert intro["text"] == gettext("es", texts.LINK_INTRO)  # the client's language
        assert ask["text"] == gettext("es", texts.ASK_CARD)
        fake.push_text(user, OLGA.card, language_code="es")
        await fake.wait_for("sendMessage", 3, timeout=60)
        fake.push_text(user, "3 de abril de 1990", language_code="es")
        linked = (await fake.wait_for("sendMessage", 4, timeout=60))[3]
        assert linked["text"] == gettext("es", texts.LINKED)
        fake.push_text(user, "/reminders off", language_code="es")
        off = (await fake.wait_for("sendMessage", 5, timeout=60))[4]
        keyboard = off["reply_markup"]["inline_keyboard"]
        assert [b["callback_data"] for row in keyboard for b in row] == ["/reminders on"]


async def test_staff_alerts_reach_the_staff_chat(tmp_path: Path) -> None:
    """A lockout alert in the database reaches STAFF_TELEGRAM_CHAT_ID through the gateway's
    JobQueue and the real python-telegram-bot client, once."""
    from bot.db import make_engine, make_sessionmaker, transaction
    from bot.db.models import ChatIdentity
    from bot.records import accounts

    db = f"sqlite:///{tmp_path / 'alerts.db'}"
    upgrade(db)
    engine = make_engine(db)
    with transaction(make_sessionmaker(engine)) as s:
        me = ChatIdentity(channel="telegram", external_id="31337")
        s.add(me)
        s.flush()
        accounts.raise_alert(s, kind="link_lockout", identity_id=me.id, details="5 failed")
    engine.dispose()
    # No user writes, so no Rasa is needed.
    async with gateway_and_fake_telegram(
        db, "http://127.0.0.1:9", STAFF_TELEGRAM_CHAT_ID="-1001234"
    ) as fake:
        (alert,) = await fake.wait_for("sendMessage", 1, timeout=30)
        assert str(alert["chat_id"]) == "-1001234"
        assert alert["text"].startswith("Staff alert #1 (link_lockout): 5 failed")
