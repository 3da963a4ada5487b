"""The gateway process: one ASGI app holding the web chat, the Telegram bot and health.

python-telegram-bot runs inside the app's lifespan (polling in development), as in its
custom-webhook example, so that every channel shares one Assistant, one database engine
and one HTTP client to Rasa.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import httpx
from sqlalchemy import text
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bot.answers.store import AnswerStore
from bot.channels.web_security import SECURITY_MIDDLEWARE
from bot.channels.webchat import WebChat
from bot.channels.webchat_assets import asset_routes
from bot.db import make_engine, make_sessionmaker
from bot.nlu.rasa_runtime import domain_intents
from bot.pipeline.assistant import Assistant
from bot.pipeline.rasa_client import RasaClient
from bot.settings import Settings, get_settings

log = logging.getLogger(__name__)
# Each dependency gets this long to answer /healthz (all on loopback: they answer in
# milliseconds or are down). Well below the supervisor's own timeout for /healthz, so
# that a hung dependency makes the gateway say "degraded", not look hung itself.
HEALTH_TIMEOUT_S = 1.0


@dataclass
class Gateway:
    settings: Settings
    assistant: Assistant
    rasa: RasaClient


def build_assistant(settings: Settings) -> tuple[Assistant, RasaClient]:
    engine = make_engine(settings.database_url)
    rasa = RasaClient(
        settings.rasa_url, token=settings.rasa_token, timeout_s=settings.rasa_timeout_s
    )
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
    webchat = WebChat(assistant, secure_cookies=settings.environment == "production")

    def ping_database() -> None:
        with assistant.sessions() as session:
            session.execute(text("SELECT 1"))

    async def database_status() -> str:
        try:
            # In a thread, with a deadline: a hung database must not hang /healthz.
            await asyncio.wait_for(asyncio.to_thread(ping_database), HEALTH_TIMEOUT_S)
        except Exception:
            return "unavailable"
        return "ok"

    async def action_server_status() -> str:
        url = f"{settings.action_server_url.rstrip('/')}/health"
        try:
            async with httpx.AsyncClient(timeout=HEALTH_TIMEOUT_S) as client:
                resp = await client.get(url)
        except httpx.HTTPError:
            return "unreachable"
        return "ok" if resp.status_code == 200 else f"HTTP {resp.status_code}"

    async def healthz(request: Request) -> Response:
        """200 when every dependency answers; 503 naming the ones that do not."""
        database, rasa_status, actions = await asyncio.gather(
            database_status(), rasa.check(timeout_s=HEALTH_TIMEOUT_S), action_server_status()
        )
        parts = {"database": database, "rasa": rasa_status, "action_server": actions}
        ok = all(v == "ok" for v in parts.values())
        return JSONResponse(
            {"status": "ok" if ok else "degraded", **parts}, status_code=200 if ok else 503
        )

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
