"""Structured logs: with LOG_FORMAT=json one JSON object per line; every line of a turn
names the conversation's public id (never the platform's user id); card and passport
numbers are masked before any line is written."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bot.db.models import ChatIdentity
from bot.logging_setup import CONVERSATION, JsonFormatter, add_filters
from bot.messages import Inbound
from bot.pipeline.assistant import Assistant
from tests.conftest import FakeRasa
from tests.helpers import new_id


@pytest.fixture
def json_lines() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    add_filters(handler)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield stream
    finally:
        root.removeHandler(handler)


def entries(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_a_json_line_has_its_fields_and_no_card_number(json_lines: io.StringIO) -> None:
    token = CONVERSATION.set("3f2a-public-id")
    try:
        logging.getLogger("bot.test").warning("lookup for card %s failed", "YW2016123456")
    finally:
        CONVERSATION.reset(token)
    (entry,) = entries(json_lines)
    assert entry["level"] == "warning" and entry["logger"] == "bot.test"
    assert entry["conversation"] == "3f2a-public-id"
    assert "2016123456" not in json.dumps(entry) and "lookup for card" in str(entry["message"])
    assert str(entry["time"]).endswith("Z")


def test_outside_a_turn_the_conversation_is_a_dash(json_lines: io.StringIO) -> None:
    logging.getLogger("bot.test").warning("starting")
    assert entries(json_lines)[0]["conversation"] == "-"


async def test_a_turns_lines_name_its_conversation_and_not_the_user(
    assistant: Assistant,
    fake_rasa: FakeRasa,
    sessions: sessionmaker[Session],
    json_lines: io.StringIO,
) -> None:
    fake_rasa.handler = lambda body: httpx.Response(500)  # the turn logs its failure
    await assistant.receive(
        Inbound(channel="telegram", external_id="987654", message_id=new_id(), text="visa?")
    )
    with sessions() as session:
        public_id = session.scalars(
            select(ChatIdentity.public_id).where(ChatIdentity.external_id == "987654")
        ).one()
    lines = [e for e in entries(json_lines) if "unanswered" in str(e["message"])]
    assert lines and all(e["conversation"] == public_id for e in lines)
    assert "987654" not in json_lines.getvalue()
    assert CONVERSATION.get() == "-"  # the turn's context did not leak
