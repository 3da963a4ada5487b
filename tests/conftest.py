"""Shared fixtures: databases (SQLite always, PostgreSQL when reachable) and a fake Rasa."""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.orm import Session, sessionmaker

from bot.core import Assistant
from bot.db import make_engine, make_sessionmaker, upgrade
from bot.rasa_client import RasaClient
from bot.rasa_runtime import domain_intents

POSTGRES_URL = os.environ.get(
    "EXPATBOT_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


def _postgres_reachable() -> str | None:
    try:
        engine = create_engine(POSTGRES_URL, connect_args={"connect_timeout": 3})
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        engine.dispose()
        return None
    except Exception as exc:
        return f"PostgreSQL not reachable at {POSTGRES_URL}: {exc.__class__.__name__}"


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
            self.requests.append(body)
            return self.handler(body)

        return httpx.MockTransport(handle)


@pytest.fixture
def fake_rasa() -> FakeRasa:
    return FakeRasa()


@pytest.fixture
def assistant(sessions: sessionmaker[Session], fake_rasa: FakeRasa) -> Assistant:
    rasa = RasaClient("http://rasa.test", transport=fake_rasa.transport())
    return Assistant(sessions=sessions, rasa=rasa, intents=domain_intents(), max_message_chars=2000)
