"""The gateway with TELEGRAM_BOT_TOKEN set: python-telegram-bot polls a local fake of the
Bot API, and a Telegram user's question is answered by the real Rasa and action server."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import uvicorn
import yaml

from bot.db import upgrade
from bot.gateway import create_app
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


async def test_telegram_user_gets_answer_in_own_language(stack: Stack, tmp_path: Path) -> None:
    fake = FakeTelegram(TOKEN)
    tg_server, tg_task = await serve(fake.app, free_port())
    db = f"sqlite:///{tmp_path / 'tg.db'}"
    upgrade(db)
    settings = Settings(  # type: ignore[call-arg]
        DATABASE_URL=db,
        RASA_URL=stack.rasa_url,
        TELEGRAM_BOT_TOKEN=TOKEN,
        TELEGRAM_BASE_URL=f"http://127.0.0.1:{tg_server.config.port}/bot",
    )
    gw_server, gw_task = await serve(create_app(settings), free_port())
    try:
        fake.push_text(
            9001, "Здравствуйте! Что делать, если я потерял паспорт?", language_code="en"
        )
        (sent,) = await fake.wait_for("sendMessage", 1, timeout=60)
        ru = yaml.safe_load((stack.locales / "ru" / "answers.yml").read_text(encoding="utf-8"))
        assert sent["text"].startswith(ru["faq_lost_passport"]["title"].strip())
        assert sent["parse_mode"] == "HTML"
        assert len(fake.sent("setMyCommands")) == 6
        assert fake.sent("sendChatAction")[0]["action"] == "typing"
    finally:
        gw_server.should_exit = True
        await gw_task
        tg_server.should_exit = True
        await tg_task
