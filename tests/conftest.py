"""Shared fixtures: databases (SQLite always, PostgreSQL when reachable) and a fake Rasa."""

from __future__ import annotations

import json
import os
import tempfile
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import httpx
import psycopg
import pytest
import sqlalchemy.exc
from sqlalchemy import create_engine, text
from sqlalchemy.orm import Session, sessionmaker

from bot.db import make_engine, make_sessionmaker, upgrade
from bot.nlu.rasa_runtime import domain_intents
from bot.pipeline.assistant import Assistant
from bot.pipeline.rasa_client import RasaClient
from tests.helpers import REGISTRY_KEY, webchat_client

# Evidence files the tests store go to a directory of this run, never to var/evidence of a
# development checkout; child processes (the action server) inherit it.
os.environ.setdefault("EVIDENCE_DIR", tempfile.mkdtemp(prefix="expatbot-evidence-"))

POSTGRES_URL = os.environ.get(
    "EXPATBOT_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


# Where PostgreSQL is expected (CI, or a URL named explicitly: .ci/run names one), not
# reaching it fails the tests that need it; skipping them there would let a broken
# PostgreSQL setup pass unnoticed.
POSTGRES_EXPECTED = "EXPATBOT_TEST_POSTGRES_URL" in os.environ or os.environ.get(
    "CI", ""
).lower() in {"1", "true", "yes"}

# Redis for the tests that need one (the flood guard, the rate limits): db 3, apart from
# the benches' db 4.
REDIS_URL = os.environ.get("EXPATBOT_TEST_REDIS_URL", "redis://127.0.0.1:6379/3")


def redis_or_skip() -> None:
    """Skip when Redis is not reachable (fail in CI, where it is expected up)."""
    import redis

    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
    try:
        client.ping()
    except redis.RedisError as exc:
        reason = f"Redis not reachable at {REDIS_URL}: {exc}"
        if POSTGRES_EXPECTED:  # CI: the machine's services are expected up
            pytest.fail(reason)
        pytest.skip(reason)
    finally:
        client.close()


def _postgres_reachable() -> str | None:
    """None when PostgreSQL answers, else why not. Only a failure to connect is a reason:
    any other error (a malformed URL, a missing driver, a bug) propagates."""
    engine = create_engine(POSTGRES_URL, connect_args={"connect_timeout": 3})
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        return None
    except (sqlalchemy.exc.OperationalError, psycopg.OperationalError) as exc:
        detail = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        return f"PostgreSQL not reachable at {POSTGRES_URL}: {detail}"
    finally:
        engine.dispose()


@pytest.fixture(scope="session")
def postgres_skip_reason() -> str | None:
    return _postgres_reachable()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(
    request: pytest.FixtureRequest, tmp_path: Any, postgres_skip_reason: str | None
) -> Iterator[str]:
    """A fresh, migrated database: a SQLite file, and a new PostgreSQL database."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'test.db'}"
        upgrade(url)
        yield url
        return
    if postgres_skip_reason:
        if POSTGRES_EXPECTED:
            pytest.fail(f"{postgres_skip_reason} (expected here: CI or EXPATBOT_TEST_POSTGRES_URL)")
        pytest.skip(postgres_skip_reason)
    name = f"expatbot_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = POSTGRES_URL.rsplit("/", 1)[0] + "/" + name
    try:
        upgrade(url)
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def sessions(database_url: str) -> Iterator[sessionmaker[Session]]:
    engine = make_engine(database_url)
    yield make_sessionmaker(engine)
    engine.dispose()


RasaHandler = Callable[[dict[str, Any]], httpx.Response]


class FakeRasa:
    """Answers the REST webhook like Rasa does; records what the gateway sent."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.handler: RasaHandler = self.echo_intent
        # The channel's /forget route (rasa_addons/forget.py): who was forgotten, and how
        # it answers (as Rasa does: how many events it deleted).
        self.forgotten: list[str] = []
        self.forget_handler: RasaHandler = lambda body: httpx.Response(200, json={"deleted": 3})

    @staticmethod
    def echo_intent(body: dict[str, Any]) -> httpx.Response:
        lang = body["metadata"]["language"]
        return httpx.Response(
            200,
            json=[
                {"recipient_id": body["sender"], "text": f"reply to {body['message'][:20]}"},
                {
                    "recipient_id": body["sender"],
                    "custom": {"turn": {"intent": "greet", "confidence": 0.9, "language": lang}},
                },
            ],
        )

    def transport(self) -> httpx.MockTransport:
        def handle(request: httpx.Request) -> httpx.Response:
            body = json.loads(request.content)
            if request.url.path.endswith("/forget"):
                self.forgotten.append(body["sender"])
                return self.forget_handler(body)
            self.requests.append(body)
            return self.handler(body)

        return httpx.MockTransport(handle)


@pytest.fixture
def fake_rasa() -> FakeRasa:
    return FakeRasa()


@pytest.fixture
def assistant(sessions: sessionmaker[Session], fake_rasa: FakeRasa) -> Assistant:
    rasa = RasaClient("http://rasa.test", transport=fake_rasa.transport())
    return Assistant(
        sessions=sessions,
        rasa=rasa,
        intents=domain_intents(),
        registry_key=REGISTRY_KEY,
        max_message_chars=2000,
    )


@pytest.fixture
async def webchat(assistant: Assistant) -> AsyncIterator[httpx.AsyncClient]:
    """The web chat's API over ASGI, on the ``assistant`` fixture (fake Rasa)."""
    async with webchat_client(assistant) as client:
        yield client
