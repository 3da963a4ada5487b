"""The gateway with TELEGRAM_BOT_TOKEN set: python-telegram-bot polls a local fake of the
Bot API, and a Telegram user's question is answered by the real Rasa and action server."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace
from pathlib import Path

import httpx
import pytest
import yaml
from sqlalchemy import select
from starlette.applications import Starlette

from bot import texts
from bot.app import create_app
from bot.db import make_engine, make_sessionmaker, upgrade
from bot.db.models import ChatIdentity, Message
from bot.i18n import gettext
from bot.messages import Inbound
from bot.nlu.rasa_runtime import domain_intents
from bot.pipeline.assistant import Assistant
from bot.pipeline.rasa_client import RasaClient
from bot.settings import Settings
from tests.fakes.telegram_api import FakeTelegram
from tests.helpers import free_port
from tests.integration.conftest import Stack
from tests.telegram_rig import serve

pytestmark = pytest.mark.integration
TOKEN = "424242:gateway-test"


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
    jobs, the outbox and the real python-telegram-bot client, once, in the staff's
    language (STAFF_LANGUAGE, Chinese by default)."""
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
        params = {"failures": 5, "channel": "telegram", "chat": "31337abc", "hours": "24"}
        accounts.raise_alert(s, kind="link_lockout", identity_id=me.id, params=params)
    engine.dispose()
    # No user writes, so no Rasa is needed.
    async with gateway_and_fake_telegram(
        db, "http://127.0.0.1:9", STAFF_TELEGRAM_CHAT_ID="-1001234"
    ) as fake:
        (alert,) = await fake.wait_for("sendMessage", 1, timeout=30)
        assert str(alert["chat_id"]) == "-1001234"
        details = gettext(
            "zh",
            texts.ALERT_LINK_LOCKOUT,
            failures=5,
            channel="telegram",
            chat="31337abc",
            hours="24",
        )
        assert alert["text"].startswith("工作人员提醒 #1（link_lockout）：" + details)


WEBHOOK_SECRET = "integration-webhook-secret-0123456789"


@asynccontextmanager
async def webhook_gateway(
    database_url: str, rasa_url: str, **settings: str
) -> AsyncIterator[tuple[FakeTelegram, str, Starlette]]:
    """The gateway in webhook mode (TELEGRAM_WEBHOOK_SECRET set), served over HTTP, and
    the fake Bot API it sends to; yields the fake, the gateway's address and its app."""
    fake = FakeTelegram(TOKEN)
    tg_server, tg_task = await serve(fake.app, free_port())
    config = Settings(  # type: ignore[call-arg]
        DATABASE_URL=database_url,
        RASA_URL=rasa_url,
        TELEGRAM_BOT_TOKEN=TOKEN,
        TELEGRAM_BASE_URL=f"http://127.0.0.1:{tg_server.config.port}/bot",
        TELEGRAM_WEBHOOK_SECRET=WEBHOOK_SECRET,
        **settings,
    )
    app = create_app(config)
    gw_server, gw_task = await serve(app, free_port())
    try:
        yield fake, f"http://127.0.0.1:{gw_server.config.port}", app
    finally:
        gw_server.should_exit = True
        await gw_task
        tg_server.should_exit = True
        await tg_task


def rasa_user_turns(stack: Stack, sender: str) -> int:
    events = httpx.get(
        f"{stack.rasa_url}/conversations/{sender}/tracker", params={"token": stack.token}
    ).json()["events"]
    return sum(1 for e in events if e.get("event") == "user")


async def test_webhook_update_posted_twice_gets_one_turn_and_one_reply(
    stack: Stack, tmp_path: Path
) -> None:
    """Telegram delivers an update again when the 200 was late: one Rasa turn, one reply."""
    db = f"sqlite:///{tmp_path / 'hook.db'}"
    upgrade(db)
    async with webhook_gateway(db, stack.rasa_url) as (fake, url, _app):
        update = fake.update(9101, "Как зарегистрироваться в полиции после переезда?")
        headers = {"X-Telegram-Bot-Api-Secret-Token": WEBHOOK_SECRET}
        async with httpx.AsyncClient(base_url=url, timeout=30) as client:
            assert (await client.post("/telegram/webhook", json=update)).status_code == 403
            first = await client.post("/telegram/webhook", json=update, headers=headers)
            second = await client.post("/telegram/webhook", json=update, headers=headers)
        assert (first.status_code, second.status_code) == (200, 200)
        sent = await fake.wait_for("sendMessage", 1, timeout=60)
        await asyncio.sleep(1.0)  # a second turn's replies would be out by now
        ru = yaml.safe_load((stack.locales / "ru" / "answers.yml").read_text(encoding="utf-8"))
        title = ru["faq_accommodation_registration"]["title"].strip()
        assert sent[0]["text"].startswith(title)
        replies = len(fake.delivered)
    engine = make_engine(db)
    with make_sessionmaker(engine)() as s:
        (identity,) = s.scalars(select(ChatIdentity)).all()
        inbound = s.scalars(select(Message).where(Message.direction == "in")).all()
        outbound = s.scalars(select(Message).where(Message.direction == "out")).all()
    engine.dispose()
    assert [m.status for m in inbound] == ["answered"]
    assert replies == len(outbound) >= 1
    assert rasa_user_turns(stack, identity.public_id) == 1


async def test_a_gateway_stopped_between_storing_and_answering_answers_after_restart(
    stack: Stack, tmp_path: Path
) -> None:
    """The update was stored (and acknowledged to Telegram), then the gateway stopped
    before answering it; the next gateway's sweeper answers it, through the real Rasa."""
    db = f"sqlite:///{tmp_path / 'restart.db'}"
    upgrade(db)
    engine = make_engine(db)
    stopped = Assistant(
        sessions=make_sessionmaker(engine),
        rasa=RasaClient("http://127.0.0.1:9"),  # it never got that far
        intents=domain_intents(),
        registry_key=b"development-only-registry-key",
    )
    inbound = Inbound(
        channel="telegram",
        external_id="9102",
        message_id="5551",
        text="¿Dónde está el centro de servicios?",
        client_language="es",
    )
    receipt = await stopped.accept(inbound)  # what the webhook route does before its 200
    assert not receipt.duplicate
    await asyncio.sleep(1.1)
    async with webhook_gateway(db, stack.rasa_url) as (fake, _url, app):
        runtime = app.state.runtime
        # Orphans are found after 1 s instead of 10: the test need not wait.
        runtime.assistant.timing = replace(
            runtime.assistant.timing, orphan_after=dt.timedelta(seconds=1)
        )
        (sent,) = await fake.wait_for("sendMessage", 1, timeout=60)
    es = yaml.safe_load((stack.locales / "es" / "answers.yml").read_text(encoding="utf-8"))
    assert sent["text"].startswith(es["faq_service_center"]["title"].strip())
    assert str(sent["chat_id"]) == "9102"
    with make_sessionmaker(engine)() as s:
        row = s.get(Message, receipt.message_id)
        assert row is not None and row.status == "answered"
    engine.dispose()
