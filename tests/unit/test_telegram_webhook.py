"""Telegram's webhook mode: the gateway's own route (/telegram/webhook), the secret
header, the update stored before the 200, each update answered once. The real
python-telegram-bot client sends through the fake Bot API. On SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker
from starlette.applications import Starlette

from bot.channels.telegram import SECRET_HEADER, WEBHOOK_PATH
from bot.db.models import ChatIdentity, Message
from bot.pipeline.assistant import Assistant
from bot.settings import PROJECT_ROOT, Settings
from tests.conftest import FakeRasa
from tests.fakes.telegram_api import FakeTelegram
from tests.helpers import free_port
from tests.telegram_rig import TOKEN, Rig, serve, telegram_rig

SECRET = "a-webhook-secret-of-some-length_123"


@dataclass
class Hook:
    rig: Rig
    client: httpx.AsyncClient

    @property
    def fake(self) -> FakeTelegram:
        return self.rig.fake

    async def post(self, update: object, secret: str | None = SECRET) -> httpx.Response:
        headers = {SECRET_HEADER: secret} if secret is not None else {}
        return await self.client.post(WEBHOOK_PATH, json=update, headers=headers)


@pytest.fixture
async def hook(assistant: Assistant) -> AsyncIterator[Hook]:
    async with telegram_rig(assistant, polling=False) as rig:
        app = Starlette(routes=[rig.channel.webhook_route(SECRET)])
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="https://gw.test") as client:
            yield Hook(rig, client)


def count(sessions: sessionmaker[Session], model: type) -> int:
    with sessions() as s:
        return int(s.scalar(select(func.count()).select_from(model)) or 0)


async def test_the_same_update_posted_twice_is_one_turn_and_one_reply(
    hook: Hook, fake_rasa: FakeRasa, sessions: sessionmaker[Session]
) -> None:
    update = hook.fake.update(7001, "How do I extend my visa?", language_code="en")
    first = await hook.post(update)
    second = await hook.post(update)  # Telegram retries when it got no 200 in time
    assert (first.status_code, second.status_code) == (200, 200)
    await hook.fake.wait_for("sendMessage", 1)
    await hook.rig.channel.drain_tasks()
    await asyncio.sleep(0.3)  # a second reply, if any, would have gone out by now
    assert len(fake_rasa.requests) == 1
    assert len(hook.fake.delivered) == 1
    (stored,) = [m for m in messages(sessions) if m.direction == "in"]
    assert (stored.channel_message_id, stored.status) == (str(update["update_id"]), "answered")


def messages(sessions: sessionmaker[Session]) -> list[Message]:
    with sessions() as s:
        return list(s.scalars(select(Message).order_by(Message.id)))


@pytest.mark.parametrize("secret", [None, "", "wrong-secret", SECRET + "x", SECRET[:-1]])
async def test_a_post_without_the_secret_gets_403_and_stores_nothing(
    hook: Hook, fake_rasa: FakeRasa, sessions: sessionmaker[Session], secret: str | None
) -> None:
    resp = await hook.post(hook.fake.update(7002, "hello"), secret=secret)
    assert resp.status_code == 403
    assert count(sessions, Message) == 0 and count(sessions, ChatIdentity) == 0
    assert fake_rasa.requests == []


async def test_the_update_is_stored_before_the_200(
    hook: Hook, sessions: sessionmaker[Session], fake_rasa: FakeRasa
) -> None:
    """When the route answers, the message is in the database (committed), whatever
    happens to the process afterwards."""
    fake_rasa.handler = lambda body: httpx.Response(503)  # the answer will fail
    resp = await hook.post(hook.fake.update(7003, "what documents do I need?"))
    assert resp.status_code == 200
    (stored,) = messages(sessions)
    assert stored.text == "what documents do I need?"
    await hook.rig.channel.drain_tasks()


@pytest.mark.parametrize(
    ("body", "status"),
    [
        (b"not json", 400),
        (b"[1, 2, 3]", 400),
        (b'{"update_id": "x"}', 400),
        (b"[" * 10_000 + b"]" * 10_000, 400),
    ],
)
async def test_a_malformed_body_gets_400_and_stores_nothing(
    hook: Hook, sessions: sessionmaker[Session], body: bytes, status: int
) -> None:
    resp = await hook.client.post(
        WEBHOOK_PATH,
        content=body,
        headers={SECRET_HEADER: SECRET, "content-type": "application/json"},
    )
    assert resp.status_code == status
    assert count(sessions, Message) == 0


async def test_an_oversized_body_gets_413(hook: Hook, sessions: sessionmaker[Session]) -> None:
    resp = await hook.client.post(
        WEBHOOK_PATH,
        content=b"{" + b" " * (2 * 1024 * 1024) + b"}",
        headers={SECRET_HEADER: SECRET},
    )
    assert resp.status_code == 413
    assert count(sessions, Message) == 0


async def test_updates_that_are_not_ours_are_acknowledged_and_ignored(
    hook: Hook, sessions: sessionmaker[Session]
) -> None:
    group = hook.fake.update(7004, "hello")
    group["message"]["chat"] = {"id": -100555, "type": "group", "title": "Traders"}
    edited = hook.fake.update(7005, "hello")
    edited["edited_message"] = edited.pop("message")
    for update in (group, edited):
        assert (await hook.post(update)).status_code == 200  # or Telegram resends it
    assert count(sessions, Message) == 0


async def test_a_database_that_is_down_gets_503_so_that_telegram_resends(
    assistant: Assistant, fake_rasa: FakeRasa, tmp_path: object
) -> None:
    from bot.db import make_engine, make_sessionmaker

    broken = make_engine(f"sqlite:///{tmp_path}/missing/../nothing-here.db")
    assistant.sessions = make_sessionmaker(broken)  # no tables: every query fails
    async with telegram_rig(assistant, polling=False) as rig:
        app = Starlette(routes=[rig.channel.webhook_route(SECRET)])
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="https://gw.test") as c:
            update = rig.fake.update(7006, "hello")
            resp = await c.post(WEBHOOK_PATH, json=update, headers={SECRET_HEADER: SECRET})
    assert resp.status_code == 503
    broken.dispose()


def test_the_webhook_secret_must_be_one_telegram_accepts() -> None:
    with pytest.raises(ValueError, match="TELEGRAM_WEBHOOK_SECRET"):
        Settings(TELEGRAM_WEBHOOK_SECRET="has spaces and !")  # type: ignore[call-arg]
    with pytest.raises(ValueError, match="real secret"):
        Settings(  # type: ignore[call-arg]
            EXPATBOT_ENV="production",
            RASA_TOKEN="r" * 20,
            ACTION_SERVER_TOKEN="a" * 20,
            METRICS_TOKEN="m" * 20,
            REGISTRY_HASH_KEY="k" * 20,
            TELEGRAM_WEBHOOK_SECRET="short",
        )
    assert Settings(TELEGRAM_WEBHOOK_SECRET=SECRET).telegram_webhook_secret == SECRET  # type: ignore[call-arg]


async def test_set_webhook_and_webhook_info_commands() -> None:
    """The deploy commands, as an operator runs them, against the fake Bot API."""
    fake = FakeTelegram(TOKEN)
    server, task = await serve(fake.app, free_port())
    env = {
        **os.environ,
        "TELEGRAM_BOT_TOKEN": TOKEN,
        "TELEGRAM_BASE_URL": f"http://127.0.0.1:{server.config.port}/bot",
        "TELEGRAM_WEBHOOK_SECRET": SECRET,
    }

    def cli(*args: str, **extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "bot.ops.cli", "telegram", *args],
            env={**env, **extra},
            capture_output=True,
            text=True,
            cwd=PROJECT_ROOT,
            timeout=60,
        )

    try:
        url = "https://bot.example.org/telegram/webhook"
        done = await asyncio.to_thread(cli, "set-webhook", url)
        assert done.returncode == 0, done.stderr
        assert fake.webhook["url"] == url and fake.webhook["secret_token"] == SECRET
        assert fake.webhook["allowed_updates"] == ["message", "callback_query"]
        info = await asyncio.to_thread(cli, "webhook-info")
        assert info.returncode == 0, info.stderr
        assert f"url: {url}" in info.stdout and "message, callback_query" in info.stdout
        assert SECRET not in info.stdout  # never printed
        plain = await asyncio.to_thread(cli, "set-webhook", "http://bot.example.org/x")
        assert plain.returncode == 1 and "https://" in plain.stderr
        unset = await asyncio.to_thread(cli, "set-webhook", url, TELEGRAM_WEBHOOK_SECRET="")
        assert unset.returncode == 1 and "TELEGRAM_WEBHOOK_SECRET is not set" in unset.stderr
        assert "Traceback" not in plain.stderr + unset.stderr
    finally:
        server.should_exit = True
        await task
