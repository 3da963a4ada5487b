"""When the action server or the Rasa server dies, users get a clear reply in their
language and their messages stay stored as unanswered. Runs last (the file name sorts
last), because it stops the shared servers."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker

from bot import store, texts
from bot.core import Assistant
from bot.i18n import gettext
from bot.messages import Inbound
from bot.rasa_client import RasaClient
from bot.rasa_runtime import domain_intents
from tests.integration.conftest import Stack, stop

pytestmark = pytest.mark.integration


@pytest.fixture(params=["sqlite"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    from bot.db import upgrade

    url = f"sqlite:///{tmp_path / 'outage.db'}"
    upgrade(url)
    return url


async def test_action_server_then_rasa_down(stack: Stack, sessions: sessionmaker[Session]) -> None:
    rasa = RasaClient(stack.rasa_url, timeout_s=60)
    assistant = Assistant(sessions=sessions, rasa=rasa, intents=domain_intents())

    async def ask(text: str) -> str:
        (reply,) = await assistant.handle(
            Inbound(channel="webchat", external_id="outage", text=text)
        )
        return reply.text

    assert await ask("Здравствуйте, как продлить визу?") != gettext(
        "ru", texts.UNAVAILABLE, hotline="12367"
    )

    stop(stack.actions)
    assert await ask("А как зарегистрироваться в полиции?") == gettext(
        "ru", texts.UNAVAILABLE, hotline="12367"
    )

    stop(stack.rasa)
    assert await ask("Где находится сервисный центр?") == gettext(
        "ru", texts.UNAVAILABLE, hotline="12367"
    )
    await rasa.aclose()

    with sessions() as s:
        inbound = [
            m
            for m in store.transcript(s, channel="webchat", external_id="outage")
            if m.direction == "in"
        ]
    assert [m.status for m in inbound] == ["answered", "unanswered", "unanswered"]
    assert [m.text for m in inbound][1:] == [
        "А как зарегистрироваться в полиции?",
        "Где находится сервисный центр?",
    ]
