"""A hung action holds Rasa's lock on the conversation. The user's messages meanwhile are
answered with an apology within the gateway's Rasa timeout, each ends `failed` (never
left `received`, never lost), and once the action server answers again the conversation
goes on. A real Rasa server, with an action server that hangs on demand."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bot import texts
from bot.db import conversations
from bot.i18n import gettext
from bot.messages import Inbound
from bot.nlu import rasa_runtime
from bot.nlu.rasa_runtime import domain_intents
from bot.ops.supervisor import rasa_service
from bot.pipeline.assistant import Assistant
from bot.pipeline.rasa_client import RasaClient
from bot.settings import Settings
from tests.helpers import REGISTRY_KEY, free_port, new_id
from tests.integration.conftest import start_and_wait
from tests.telegram_rig import serve

pytestmark = pytest.mark.integration

TOKEN = "hung-action-rasa-token"
GATEWAY_TIMEOUT_S = 4.0
LOCK_LIFETIME_S = 6  # Rasa's ticket lock (TICKET_LOCK_LIFETIME), as deploy/ sets it


@pytest.fixture(params=["sqlite"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    from bot.db import upgrade

    url = f"sqlite:///{tmp_path / 'hung.db'}"
    upgrade(url)
    return url


class Actions:
    """The action server's webhook: answers every action, or hangs until released."""

    def __init__(self) -> None:
        self.hang = True
        self.release = asyncio.Event()
        self.calls = 0

    async def webhook(self, request: Request) -> Response:
        self.calls += 1
        body = await request.json()
        if self.hang:
            await asyncio.wait_for(self.release.wait(), timeout=120)
        text = f"answer to {body['next_action']}"
        return JSONResponse({"events": [], "responses": [{"text": text}]})

    async def health(self, request: Request) -> Response:
        return JSONResponse({"status": "ok"})


async def test_messages_behind_a_hung_action_are_apologised_for_not_lost(
    sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    actions = Actions()
    app = Starlette(
        routes=[
            Route("/webhook", actions.webhook, methods=["POST"]),
            Route("/health", actions.health),
        ]
    )
    server, task = await serve(app, free_port())
    settings = Settings(  # type: ignore[call-arg]
        EXPATBOT_VAR=str(tmp_path / "var"),
        RASA_PORT=free_port(),
        RASA_TOKEN=TOKEN,
        ACTION_SERVER_TOKEN="unused-by-the-fake",
    )
    model, _ = rasa_runtime.ensure_model()
    endpoints = rasa_runtime.write_endpoints(
        tmp_path / "endpoints.yml", action_port=server.config.port
    )
    rasa = rasa_service(settings, model=model, endpoints=endpoints, logs=tmp_path / "log")
    rasa.env["TICKET_LOCK_LIFETIME"] = str(LOCK_LIFETIME_S)
    await asyncio.to_thread(start_and_wait, rasa)
    client = RasaClient(
        f"http://127.0.0.1:{settings.rasa_port}", token=TOKEN, timeout_s=GATEWAY_TIMEOUT_S
    )
    assistant = Assistant(
        sessions=sessions, rasa=client, intents=domain_intents(), registry_key=REGISTRY_KEY
    )

    async def ask(text: str) -> tuple[str, float]:
        started = time.monotonic()
        (reply,) = await assistant.handle(
            Inbound(message_id=new_id(), channel="webchat", external_id="hung", text=text)
        )
        return reply.text, time.monotonic() - started

    apology = gettext("en", texts.NOT_ANSWERED, hotline="12367")
    try:
        first, first_s = await ask("How do I extend my visa?")
        # Rasa still holds the conversation's lock for the hung turn.
        second, second_s = await ask("What are the emergency numbers?")
        # Each an apology once the gateway's timeout passed, not a wait for the lock.
        assert (first, second) == (apology, apology)
        actions.hang = False
        actions.release.set()
        await asyncio.sleep(LOCK_LIFETIME_S)  # the hung turns' tickets expire
        third, _ = await ask("How do I register my accommodation?")
        assert third.startswith("answer to action_")
    finally:
        actions.release.set()
        await client.aclose()
        await asyncio.to_thread(rasa.stop)
        server.should_exit = True
        await task
    with sessions() as s:
        inbound = [
            m
            for m in conversations.transcript(s, channel="webchat", external_id="hung")
            if m.direction == "in"
        ]
    assert [m.status for m in inbound] == ["failed", "failed", "answered"]
    print(f"\nbehind a hung action: apologies after {first_s:.1f}s and {second_s:.1f}s")
