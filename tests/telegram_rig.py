"""A Telegram channel over the fake Bot API (tests/fakes/telegram_api.py), served over HTTP:
the real python-telegram-bot client, the assistant, and a dispatcher sending the outbox."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import uvicorn

from bot.channels.telegram import ALLOWED_UPDATES, TelegramChannel, build_channel, set_commands
from bot.delivery.dispatcher import Dispatcher, RetryPolicy
from bot.pipeline.assistant import Assistant
from tests.fakes.telegram_api import FakeTelegram
from tests.helpers import free_port

TOKEN = "123456:TEST-token"
# Fast retries: the tests' failures come back within a fraction of a second.
FAST_RETRIES = RetryPolicy(max_attempts=4, base_s=0.05, cap_s=0.2)


async def serve(app: object, port: int) -> tuple[uvicorn.Server, asyncio.Task[None]]:
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error"))  # type: ignore[arg-type]
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.02)
    return server, task


@dataclass
class Rig:
    fake: FakeTelegram
    channel: TelegramChannel
    dispatcher: Dispatcher
    base_url: str


@asynccontextmanager
async def telegram_rig(
    assistant: Assistant, *, polling: bool = True, policy: RetryPolicy = FAST_RETRIES
) -> AsyncIterator[Rig]:
    fake = FakeTelegram(TOKEN)
    server, task = await serve(fake.app, free_port())
    base_url = f"http://127.0.0.1:{server.config.port}/bot"
    channel = build_channel(assistant, token=TOKEN, base_url=base_url, polling=polling)
    dispatcher = Dispatcher(assistant.sessions, {channel.name: channel}, policy=policy, idle_s=0.05)
    assistant.on_outbox = dispatcher.kick
    stop = asyncio.Event()
    app = channel.application
    await app.initialize()
    await set_commands(app.bot)
    await app.start()
    if polling:
        assert app.updater is not None
        await app.updater.start_polling(
            poll_interval=0.0, timeout=1, allowed_updates=list(ALLOWED_UPDATES)
        )
    sender = asyncio.create_task(dispatcher.run(stop))
    try:
        yield Rig(fake=fake, channel=channel, dispatcher=dispatcher, base_url=base_url)
    finally:
        stop.set()
        if app.updater is not None and app.updater.running:
            await app.updater.stop()
        await channel.drain_tasks()
        await app.stop()
        await app.shutdown()
        await sender
        server.should_exit = True
        await task
