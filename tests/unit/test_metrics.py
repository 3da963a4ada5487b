"""The gateway's /metrics: behind METRICS_TOKEN, and counting what happened to users'
messages (in, handled, replies, Rasa's failures) and what waits in the database."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client import REGISTRY
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bot.app import create_app
from bot.db import make_engine, make_sessionmaker, transaction, upgrade
from bot.db.models import Outbox, utcnow
from bot.delivery import outbox
from bot.settings import Settings
from tests.helpers import free_port
from tests.telegram_rig import serve

TOKEN = "metrics-test-token"


class Rasa:
    """Rasa's gateway channel over HTTP, answering as told."""

    def __init__(self) -> None:
        self.answer: Any = "reply"

    async def webhook(self, request: Request) -> Response:
        body = await request.json()
        if self.answer == "reply":
            lang = body["metadata"]["language"]
            return JSONResponse(
                [
                    {"recipient_id": body["sender"], "text": "Here is how."},
                    {"custom": {"turn": {"intent": "faq", "confidence": 0.9, "language": lang}}},
                ]
            )
        if isinstance(self.answer, int):
            return JSONResponse({"error": "boom"}, status_code=self.answer)
        return JSONResponse(self.answer)

    async def health(self, request: Request) -> Response:
        return JSONResponse({"status": "ok"})


@asynccontextmanager
async def gateway(tmp_path: Path) -> AsyncIterator[tuple[httpx.AsyncClient, Rasa, str]]:
    rasa = Rasa()
    app = Starlette(
        routes=[
            Route("/webhooks/gateway/webhook", rasa.webhook, methods=["POST"]),
            Route("/webhooks/gateway/", rasa.health),
        ]
    )
    server, task = await serve(app, free_port())
    url = f"sqlite:///{tmp_path / 'gw.db'}"
    upgrade(url)
    settings = Settings(  # type: ignore[call-arg]
        DATABASE_URL=url,
        RASA_URL=f"http://127.0.0.1:{server.config.port}",
        RASA_TOKEN="rasa-secret",
        METRICS_TOKEN=TOKEN,
    )
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=create_app(settings)), base_url="http://gw"
        ) as client:
            yield client, rasa, url
    finally:
        server.should_exit = True
        await task


def value(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def ask(client: httpx.AsyncClient, text: str) -> dict[str, Any]:
    resp = await client.post(
        "/api/webchat/messages", json={"text": text}, headers={"Origin": "http://gw"}
    )
    assert resp.status_code == 200, resp.text
    return dict(resp.json())


@pytest.mark.parametrize(
    "authorization",
    [None, "Bearer wrong-token", f"Basic {TOKEN}", "Bearer ", TOKEN],
    ids=["none", "wrong", "not-bearer", "empty", "bare-token"],
)
async def test_metrics_need_the_token(tmp_path: Path, authorization: str | None) -> None:
    async with gateway(tmp_path) as (client, _rasa, _url):
        headers = {"Authorization": authorization} if authorization else {}
        resp = await client.get("/metrics", headers=headers)
        assert resp.status_code == 401
        assert "expatbot" not in resp.text


async def test_a_message_is_counted_in_handled_and_replied(tmp_path: Path) -> None:
    labels = {"channel": "webchat"}
    before = {
        "in": value("expatbot_messages_received_total", **labels),
        "answered": value(
            "expatbot_messages_handled_total", language="en", status="answered", **labels
        ),
        "timed": value("expatbot_reply_seconds_count", **labels),
        "direct": value("expatbot_replies_total", language="en", way="direct", **labels),
    }
    async with gateway(tmp_path) as (client, _rasa, _url):
        await ask(client, "How do I extend my visa?")
        resp = await client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert resp.status_code == 200
    assert resp.headers["content-type"].startswith("text/plain")
    assert value("expatbot_messages_received_total", **labels) == before["in"] + 1
    assert (
        value("expatbot_messages_handled_total", language="en", status="answered", **labels)
        == before["answered"] + 1
    )
    assert value("expatbot_reply_seconds_count", **labels) == before["timed"] + 1
    assert (
        value("expatbot_replies_total", language="en", way="direct", **labels)
        == before["direct"] + 1
    )
    assert "expatbot_messages_handled_total{" in resp.text
    assert "expatbot_handoff_queue_length 0.0" in resp.text


async def test_the_database_work_of_a_message_is_counted(tmp_path: Path) -> None:
    """Transactions, statements and pool checkouts: what a message costs the database,
    read per message handled by bench/load.py (a rise is a regression to look at)."""
    before = {
        what: value("expatbot_db_total", what=what) for what in ("commit", "statement", "checkout")
    }
    async with gateway(tmp_path) as (client, _rasa, _url):
        await ask(client, "How do I extend my visa?")
    after = {what: value("expatbot_db_total", what=what) for what in before}
    # At least: the message stored, its outcome stored, each a transaction of several
    # statements on a connection from the pool.
    assert after["commit"] - before["commit"] >= 2
    assert after["statement"] - before["statement"] >= 2 * (after["commit"] - before["commit"])
    assert after["checkout"] - before["checkout"] >= after["commit"] - before["commit"]


@pytest.mark.parametrize(
    ("answer", "kind"), [(500, "unavailable"), ([], "no_reply")], ids=["http-500", "empty-list"]
)
async def test_rasa_failures_are_counted_by_kind(tmp_path: Path, answer: Any, kind: str) -> None:
    before = value("expatbot_rasa_errors_total", kind=kind)
    failed = value(
        "expatbot_messages_handled_total", channel="webchat", language="en", status="failed"
    )
    async with gateway(tmp_path) as (client, rasa, _url):
        rasa.answer = answer
        body = await ask(client, "How do I extend my visa?")
    assert body["replies"][0]["html"].startswith("Sorry, the assistant cannot answer right now")
    assert value("expatbot_rasa_errors_total", kind=kind) == before + 1
    assert (
        value("expatbot_messages_handled_total", channel="webchat", language="en", status="failed")
        == failed + 1
    )


async def test_the_outbox_depth_and_age_are_read_from_the_database(tmp_path: Path) -> None:
    async with gateway(tmp_path) as (client, _rasa, url):
        engine = make_engine(url)
        with transaction(make_sessionmaker(engine)) as session:
            row_id = outbox.enqueue(
                session,
                key="test:1",
                channel="telegram",
                recipient="42",
                kind="reminder",
                text="Your visa…",
                language="en",
            )
            row = session.get(Outbox, row_id)
            assert row is not None
            row.created_at = utcnow() - dt.timedelta(minutes=5)
        engine.dispose()
        text = (await client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})).text
    assert 'expatbot_outbox_depth{channel="telegram",status="pending"} 1.0' in text
    line = next(x for x in text.splitlines() if x.startswith("expatbot_outbox_oldest_seconds{"))
    assert 299 <= float(line.rsplit(" ", 1)[1]) < 400
