"""The composition root: settings -> database, Rasa client, pipeline, channels, outbox, jobs.

Everything the gateway, the worker and the terminal chat run is built here and only here
(``build_runtime``), so that they are the same parts wired the same way:

- the gateway (``create_app``): one ASGI app with the web chat, Telegram (polling, or its
  webhook route), the staff console (/staff), health; in the background the outbox's
  dispatcher, the web chat's mailbox and, unless a worker runs them
  (EXPATBOT_GATEWAY_JOBS=false), the jobs;
- the worker (``run_worker``): the dispatcher and the jobs, without serving anything;
- the terminal chat (``build_assistant``): the pipeline alone.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field

import httpx
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session, sessionmaker
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bot import metrics
from bot.answers.store import AnswerStore
from bot.channels import webchat_sessions
from bot.channels.telegram import ALLOWED_UPDATES, TelegramChannel, build_channel, set_commands
from bot.channels.web_security import SECURITY_MIDDLEWARE
from bot.channels.webchat import WebChat
from bot.channels.webchat_assets import asset_routes
from bot.channels.wechat import WeChatChannel
from bot.channels.wechat_api import WeChatApi
from bot.db import make_engine, make_sessionmaker
from bot.db.gauges import read_state
from bot.delivery.channel import PushChannel
from bot.delivery.dispatcher import Dispatcher
from bot.delivery.mailbox import Mailbox
from bot.delivery.rate_limit import Limiter, RateLimiter, RedisRateLimiter
from bot.jobs.catalogue import default_jobs
from bot.jobs.scheduler import Scheduler
from bot.nlu import langid
from bot.nlu.rasa_runtime import domain_intents
from bot.pipeline.assistant import Assistant, InboxTiming
from bot.pipeline.flood import FloodGuard
from bot.pipeline.rasa_client import RasaClient
from bot.settings import Settings, get_settings
from bot.staff.console.pages import Console

log = logging.getLogger(__name__)
# Each dependency gets this long to answer /healthz (all on loopback: they answer in
# milliseconds or are down). Well below the supervisor's own timeout for /healthz, so
# that a hung dependency makes the gateway say "degraded", not look hung itself.
HEALTH_TIMEOUT_S = 1.0
# Channels whose clients collect their messages from the outbox (bot.delivery.mailbox).
COLLECTING_CHANNELS = ("webchat", "terminal")


@dataclass
class Kicks:
    """Who to wake when a turn put something in the outbox (wired after both exist)."""

    targets: list[Callable[[], None]] = field(default_factory=list)

    def __call__(self) -> None:
        for kick in self.targets:
            kick()


@dataclass
class Runtime:
    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    rasa: RasaClient
    assistant: Assistant
    kicks: Kicks
    mailbox: Mailbox
    dispatcher: Dispatcher
    scheduler: Scheduler
    telegram: TelegramChannel | None = None
    wechat: WeChatChannel | None = None
    _stop: asyncio.Event = field(default_factory=asyncio.Event)
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)

    async def start(self, *, serve: bool, jobs: bool) -> None:
        """Start Telegram (its updater too when ``serve`` and polling), and the
        background loops: the dispatcher, the mailbox (``serve``), the jobs (``jobs``)."""
        if serve:
            await asyncio.to_thread(langid.warm_up)
        if self.telegram is not None:
            app = self.telegram.application
            await app.initialize()
            if serve:
                await set_commands(app.bot)
            await app.start()
            if serve and app.updater is not None:
                await app.updater.start_polling(
                    allowed_updates=list(ALLOWED_UPDATES), drop_pending_updates=False
                )
                log.info("Telegram bot @%s is polling", app.bot.username)
        loops = [self.dispatcher.run(self._stop)]
        if serve:
            loops.append(self.mailbox.run(self._stop))
        if jobs:
            loops.append(self.scheduler.run(self._stop))
        self._tasks = [asyncio.create_task(loop) for loop in loops]

    def loops_running(self) -> bool:
        """The background loops started and none has ended (a loop ends only on stop)."""
        return bool(self._tasks) and not any(task.done() for task in self._tasks)

    async def stop(self) -> None:
        self._stop.set()
        if self.telegram is not None:
            app = self.telegram.application
            if app.updater is not None and app.updater.running:
                await app.updater.stop()
            await self.telegram.drain_tasks()
            if app.running:
                await app.stop()
            await app.shutdown()
        if self.wechat is not None:
            await self.wechat.drain_tasks()
        for task in self._tasks:
            with suppress(asyncio.CancelledError, Exception):
                await asyncio.wait_for(task, timeout=10)
        if self.wechat is not None:
            await self.wechat.api.aclose()
        await self.rasa.aclose()
        await self.dispatcher.aclose()
        self.engine.dispose()


def build_assistant(
    settings: Settings, *, on_outbox: Callable[[], None] | None = None
) -> tuple[Assistant, RasaClient, Engine]:
    engine = make_engine(settings.database_url)
    metrics.count_database_work(engine)
    rasa = RasaClient(
        settings.rasa_url,
        token=settings.rasa_token,
        timeout_s=settings.rasa_timeout_s,
        max_in_flight=settings.rasa_max_in_flight,
    )
    assistant = Assistant(
        sessions=make_sessionmaker(engine),
        rasa=rasa,
        intents=domain_intents(),
        max_message_chars=settings.max_message_chars,
        answers=AnswerStore(settings.locales_dir),
        registry_key=settings.registry_hash_key.encode(),
        timing=InboxTiming.for_rasa_timeout(
            settings.rasa_timeout_s, max_age_s=settings.inbox_max_age_s
        ),
        on_outbox=on_outbox,
        minutes_per_chat=settings.handoff_minutes_per_chat,
        flood=FloodGuard(settings.redis_url, limits=settings.flood_limits),
    )
    return assistant, rasa, engine


def build_runtime(settings: Settings) -> Runtime:
    kicks = Kicks()
    assistant, rasa, engine = build_assistant(settings, on_outbox=kicks)
    sessions = assistant.sessions
    telegram = None
    push: dict[str, PushChannel] = {}
    if settings.telegram_bot_token:
        telegram = build_channel(
            assistant,
            token=settings.telegram_bot_token,
            base_url=settings.telegram_base_url,
            polling=not settings.telegram_webhook_secret,
        )
        push[telegram.name] = telegram
    wechat = None
    if settings.wechat_enabled:
        api = WeChatApi(
            sessions,
            app_id=settings.wechat_app_id,
            secret=settings.wechat_app_secret,
            base_url=settings.wechat_api_base_url,
        )
        wechat = WeChatChannel(
            assistant,
            api,
            token=settings.wechat_token,
            aes_key=settings.wechat_encoding_aes_key,
            app_id=settings.wechat_app_id,
            templates=settings.wechat_templates,
        )
        push[wechat.name] = wechat
    mailbox = Mailbox(sessions, COLLECTING_CHANNELS)
    limiter: Limiter = RateLimiter(sessions)
    if settings.redis_url:
        limiter = RedisRateLimiter(settings.redis_url, limiter)
    dispatcher = Dispatcher(sessions, push, limiter=limiter)
    kicks.targets += [dispatcher.kick, mailbox.kick]
    scheduler = Scheduler(
        sessions,
        default_jobs(
            settings=settings,
            sessions=sessions,
            assistant=assistant,
            rasa=rasa,
            kick=kicks,
            staff_channel=telegram.name if telegram else None,
            collecting_channels=COLLECTING_CHANNELS,
            uncollected_after=webchat_sessions.SESSION_IDLE,
        ),
    )
    return Runtime(
        settings=settings,
        engine=engine,
        sessions=sessions,
        rasa=rasa,
        assistant=assistant,
        kicks=kicks,
        mailbox=mailbox,
        dispatcher=dispatcher,
        scheduler=scheduler,
        telegram=telegram,
        wechat=wechat,
    )


def _ping_database(sessions: sessionmaker[Session]) -> None:
    with sessions() as session:
        session.execute(text("SELECT 1"))


async def database_status(sessions: sessionmaker[Session]) -> str:
    try:
        # In a thread, with a deadline: a hung database must not hang a health check.
        await asyncio.wait_for(asyncio.to_thread(_ping_database, sessions), HEALTH_TIMEOUT_S)
    except Exception:
        return "unavailable"
    return "ok"


async def readiness(runtime: Runtime) -> Response:
    """200 while the database answers and the background loops run; 503 saying which not."""
    parts = {"database": await database_status(runtime.sessions)}
    parts["background"] = "ok" if runtime.loops_running() else "stopped"
    ok = all(v == "ok" for v in parts.values())
    return JSONResponse(
        {"status": "ok" if ok else "degraded", **parts}, status_code=200 if ok else 503
    )


def create_app(settings: Settings | None = None) -> Starlette:
    settings = settings or get_settings()
    runtime = build_runtime(settings)
    assistant, rasa = runtime.assistant, runtime.rasa
    webchat = WebChat(
        assistant,
        mailbox=runtime.mailbox,
        secure_cookies=settings.environment == "production",
    )

    sessions = runtime.sessions

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
            database_status(sessions),
            rasa.check(timeout_s=HEALTH_TIMEOUT_S),
            action_server_status(),
        )
        parts = {"database": database, "rasa": rasa_status, "action_server": actions}
        ok = all(v == "ok" for v in parts.values())
        return JSONResponse(
            {"status": "ok" if ok else "degraded", **parts}, status_code=200 if ok else 503
        )

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await runtime.start(serve=True, jobs=settings.gateway_runs_jobs)
        try:
            yield
        finally:
            await runtime.stop()

    console = Console(
        runtime.sessions,
        answers=AnswerStore(settings.locales_dir),
        kick=runtime.kicks,
        language=settings.staff_language,
        secure_cookies=settings.environment == "production",
        long_wait_minutes=settings.handoff_long_wait_minutes,
    )

    async def readyz(request: Request) -> Response:
        """200 when this gateway can take a message: its database stores it (the proxy's
        check; Rasa and the action server are behind the proxy and /healthz)."""
        return await readiness(runtime)

    state = metrics.StateCollector(lambda: read_state(runtime.sessions))
    routes = [
        Route("/healthz", healthz),
        Route("/readyz", readyz),
        Route("/metrics", metrics.route(settings.metrics_token, state)),
        *webchat.routes(),
        *asset_routes(),
        *console.routes(),
    ]
    if runtime.wechat is not None:
        routes += runtime.wechat.routes()
    if runtime.telegram is not None and settings.telegram_webhook_secret:
        routes.append(runtime.telegram.webhook_route(settings.telegram_webhook_secret))
    app = Starlette(routes=routes, middleware=SECURITY_MIDDLEWARE, lifespan=lifespan)
    app.state.runtime = runtime
    return app


def create_worker_app(settings: Settings | None = None) -> Starlette:
    """The worker (jobs and outbox) as an ASGI app serving only its health, for a
    deployment whose process manager and proxy check every process over HTTP
    (`expatbot worker` with WORKER_PORT)."""
    settings = settings or get_settings()
    runtime = build_runtime(settings)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await runtime.start(serve=False, jobs=True)
        log.info("worker: jobs %s", ", ".join(j.name for j in runtime.scheduler.jobs))
        try:
            yield
        finally:
            await runtime.stop()

    async def health(request: Request) -> Response:
        return await readiness(runtime)

    state = metrics.StateCollector(lambda: read_state(runtime.sessions))
    app = Starlette(
        routes=[
            Route("/healthz", health),
            Route("/readyz", health),
            Route("/metrics", metrics.route(settings.metrics_token, state)),
        ],
        middleware=SECURITY_MIDDLEWARE,
        lifespan=lifespan,
    )
    app.state.runtime = runtime
    return app


async def run_worker(settings: Settings, *, stop: asyncio.Event | None = None) -> int:
    """The jobs and the outbox, in a process of their own (`expatbot worker`)."""
    runtime = build_runtime(settings)
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    await runtime.start(serve=False, jobs=True)
    log.info("worker: jobs %s", ", ".join(j.name for j in runtime.scheduler.jobs))
    try:
        await stop.wait()
    finally:
        await runtime.stop()
    return 0
