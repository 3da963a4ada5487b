"""The gateway process: one ASGI app holding the web chat, the Telegram bot and health.

python-telegram-bot runs inside the app's lifespan (polling in development), as in its
custom-webhook example, so that every channel shares one Assistant, one database engine
and one HTTP client to Rasa.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from sqlalchemy import text
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bot.answers import AnswerStore
from bot.channels.web_security import SECURITY_MIDDLEWARE
from bot.channels.webchat import WebChat
from bot.channels.webchat_assets import asset_routes
from bot.core import Assistant
from bot.db import make_engine, make_sessionmaker
from bot.rasa_client import RasaClient
from bot.rasa_runtime import domain_intents
from bot.settings import Settings, get_settings

log = logging.getLogger(__name__)


@dataclass
class Gateway:
    settings: Settings
    assistant: Assistant
    rasa: RasaClient


def build_assistant(settings: Settings) -> tuple[Assistant, RasaClient]:
    engine = make_engine(settings.database_url)
    rasa = RasaClient(settings.rasa_url, timeout_s=settings.rasa_timeout_s)
    assistant = Assistant(
        sessions=make_sessionmaker(engine),
        rasa=rasa,
        intents=domain_intents(),
        max_message_chars=settings.max_message_chars,
        answers=AnswerStore(settings.locales_dir, settings.locales_dir / "office.yml"),
        registry_key=settings.registry_hash_key.encode(),
    )
    return assistant, rasa


def create_app(settings: Settings | None = None) -> Starlette:
    settings = settings or get_settings()
    assistant, rasa = build_assistant(settings)
    webchat = WebChat(assistant)

    async def healthz(request: Request) -> Response:
        try:
            with assistant.sessions() as session:
                session.execute(text("SELECT 1"))
        except Exception:
            return JSONResponse({"status": "database unavailable"}, status_code=503)
        return JSONResponse({"status": "ok"})

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        telegram = None
        if settings.telegram_bot_token:
            from bot.channels.telegram import (
                build_application,
                schedule_reminders,
                schedule_staff_alerts,
                set_commands,
            )

            telegram = build_application(
                settings.telegram_bot_token, assistant, base_url=settings.telegram_base_url
            )
            schedule_reminders(telegram, assistant.sessions)
            if settings.staff_telegram_chat_id:
                schedule_staff_alerts(
                    telegram, assistant.sessions, chat_id=settings.staff_telegram_chat_id
                )
            await telegram.initialize()
            await set_commands(telegram)
            await telegram.start()
            assert telegram.updater is not None
            await telegram.updater.start_polling(drop_pending_updates=False)
            log.info("Telegram bot @%s is polling", telegram.bot.username)
        try:
            yield
        finally:
            if telegram is not None:
                assert telegram.updater is not None
                await telegram.updater.stop()
                await telegram.stop()
                await telegram.shutdown()
            await rasa.aclose()

    return Starlette(
        routes=[Route("/healthz", healthz), *webchat.routes(), *asset_routes()],
        middleware=SECURITY_MIDDLEWARE,
        lifespan=lifespan,
    )
