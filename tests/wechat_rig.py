"""A WeChat channel over the fake WeChat servers (tests/fakes/wechat_api.py), served over
HTTP: the gateway's /wechat routes (called in-process), the real WeChatApi client, the
assistant, and a dispatcher sending the outbox. Shared by the WeChat tests."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass

import httpx
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker
from starlette.applications import Starlette

from bot.channels.wechat import WeChatChannel
from bot.channels.wechat_api import WeChatApi
from bot.db.models import Message, Outbox
from bot.delivery.dispatcher import Dispatcher
from bot.pipeline.assistant import Assistant
from tests.fakes import wechat_api as wx
from tests.fakes.wechat_api import FakeWeChat
from tests.helpers import free_port
from tests.telegram_rig import FAST_RETRIES, serve


@dataclass
class Rig:
    fake: FakeWeChat
    gateway: httpx.AsyncClient
    channel: WeChatChannel
    sessions: sessionmaker[Session]
    base_url: str
    dispatcher: Dispatcher


async def wechat_rig(
    assistant: Assistant, *, aes: bool, templates: Mapping[str, str] | None = None
) -> AsyncIterator[Rig]:
    fake = FakeWeChat()
    server, task = await serve(fake.app, free_port())
    base_url = f"http://127.0.0.1:{server.config.port}"
    api = WeChatApi(assistant.sessions, app_id=wx.APP_ID, secret=wx.APP_SECRET, base_url=base_url)
    channel = WeChatChannel(
        assistant,
        api,
        token=wx.CALLBACK_TOKEN,
        aes_key=wx.AES_KEY if aes else "",
        app_id=wx.APP_ID,
        templates=templates,
    )
    dispatcher = Dispatcher(
        assistant.sessions, {channel.name: channel}, policy=FAST_RETRIES, idle_s=0.05
    )
    assistant.on_outbox = dispatcher.kick
    stop = asyncio.Event()
    sender = asyncio.create_task(dispatcher.run(stop))
    app = Starlette(routes=channel.routes())
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as gateway:
        try:
            yield Rig(fake, gateway, channel, assistant.sessions, base_url, dispatcher)
        finally:
            await channel.drain_tasks()
            stop.set()
            await sender
            await api.aclose()
            server.should_exit = True
            await task


def stored(sessions: sessionmaker[Session]) -> int:
    with sessions() as s:
        return int(
            s.scalar(select(func.count()).select_from(Message).where(Message.direction == "in"))
            or 0
        )


async def post(rig: Rig, xml: str, *, encrypted: bool = False, **forge: object) -> httpx.Response:
    if encrypted:
        return await wx.post_encrypted(
            rig.gateway,
            xml,
            wx.CALLBACK_TOKEN,
            wx.AES_KEY,
            wx.APP_ID,
            **forge,  # type: ignore[arg-type]
        )
    return await wx.post_plain(rig.gateway, xml, wx.CALLBACK_TOKEN, **forge)  # type: ignore[arg-type]


async def outbox_rows(
    sessions: sessionmaker[Session],
    until: Callable[[list[Outbox]], bool],
    *,
    timeout: float = 15,
) -> list[Outbox]:
    """The WeChat outbox rows, oldest first, once ``until`` holds for them (or at the
    timeout: the caller's assertion then says what was found)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        with sessions() as s:
            query = select(Outbox).where(Outbox.channel == "wechat").order_by(Outbox.id)
            rows = list(s.scalars(query))
            s.expunge_all()
        if until(rows) or loop.time() > deadline:
            return rows
        await asyncio.sleep(0.05)
