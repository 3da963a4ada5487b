"""When the action server or the Rasa server dies, users get a clear reply in their
language and their messages stay stored as unanswered. Runs last (the file name sorts
last), because it stops the shared servers."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from sqlalchemy.orm import Session, sessionmaker

from bot import texts
from bot.db import conversations
from bot.i18n import gettext
from bot.messages import Inbound
from bot.nlu.rasa_runtime import domain_intents
from bot.pipeline.assistant import Assistant
from bot.pipeline.rasa_client import RasaClient
from tests.helpers import REGISTRY_KEY, new_id
from tests.integration.conftest import Stack

pytestmark = pytest.mark.integration


@pytest.fixture(params=["sqlite"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    from bot.db import upgrade

    url = f"sqlite:///{tmp_path / 'outage.db'}"
    upgrade(url)
    return url


EVERYTHING_OK = {"database": "ok", "rasa": "ok", "action_server": "ok"}


async def gateway_health(stack: Stack, tmp_path: Path) -> tuple[int, dict[str, str]]:
    """/healthz of a gateway built on this stack, as `expatbot run` configures it."""
    from bot.app import create_app
    from bot.settings import Settings

    settings = Settings(  # type: ignore[call-arg]
        DATABASE_URL=f"sqlite:///{tmp_path / 'outage.db'}",
        RASA_URL=stack.rasa_url,
        RASA_TOKEN=stack.token,
        ACTION_SERVER_URL=stack.action_url,
    )
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=create_app(settings)), base_url="http://gw"
    ) as client:
        resp = await client.get("/healthz")
    return resp.status_code, resp.json()


async def test_action_server_then_rasa_down(
    stack: Stack, sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    rasa = RasaClient(stack.rasa_url, token=stack.token, timeout_s=60)
    assistant = Assistant(
        sessions=sessions, rasa=rasa, intents=domain_intents(), registry_key=REGISTRY_KEY
    )

    async def ask(text: str) -> str:
        (reply,) = await assistant.handle(
            Inbound(message_id=new_id(), channel="webchat", external_id="outage", text=text)
        )
        return reply.text

    assert await ask("Здравствуйте, как продлить визу?") != gettext(
        "ru", texts.NOT_ANSWERED, hotline="12367"
    )

    assert await gateway_health(stack, tmp_path) == (200, {"status": "ok"} | EVERYTHING_OK)

    stack.actions.stop()
    assert await ask("А как зарегистрироваться в полиции?") == gettext(
        "ru", texts.NOT_ANSWERED, hotline="12367"
    )
    assert await gateway_health(stack, tmp_path) == (
        503,
        {"status": "degraded"} | EVERYTHING_OK | {"action_server": "unreachable"},
    )

    stack.rasa.stop()
    assert await ask("Где находится сервисный центр?") == gettext(
        "ru", texts.NOT_ANSWERED, hotline="12367"
    )
    assert await gateway_health(stack, tmp_path) == (
        503,
        {"status": "degraded", "database": "ok"}
        | {"rasa": "unreachable", "action_server": "unreachable"},
    )
    await rasa.aclose()

    with sessions() as s:
        inbound = [
            m
            for m in conversations.transcript(s, channel="webchat", external_id="outage")
            if m.direction == "in"
        ]
    assert [m.status for m in inbound] == ["answered", "failed", "failed"]
    assert [m.text for m in inbound][1:] == [
        "А как зарегистрироваться в полиции?",
        "Где находится сервисный центр?",
    ]
