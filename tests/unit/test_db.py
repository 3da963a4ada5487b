"""Migrations and models, on SQLite and (when reachable) PostgreSQL."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import inspect
from sqlalchemy.orm import Session, sessionmaker

from bot.db import conversations, make_engine, upgrade


def test_migrations_create_every_table_and_are_idempotent(database_url: str) -> None:
    upgrade(database_url)  # second run: nothing to do, no error
    engine = make_engine(database_url)
    tables = set(inspect(engine).get_table_names())
    engine.dispose()
    assert {"chat_identity", "conversation", "message", "alembic_version"} <= tables


def test_identity_conversation_messages_roundtrip(sessions: sessionmaker[Session]) -> None:
    with sessions() as s, s.begin():
        identity = conversations.get_or_create_identity(
            s, channel="telegram", external_id="12345", client_language="ar"
        )
        conv = conversations.current_conversation(s, identity=identity)
        msg_in = conversations.record_inbound(
            s, conversation=conv, text="مرحبا 👋 \x00", kind="text"
        )
        conversations.record_outbound(
            s,
            conversation_id=conv.id,
            text="أهلا",
            language="ar",
            reply_to=msg_in.id,
            buttons=[{"title": "القائمة", "payload": "/help"}],
        )
    with sessions() as s, s.begin():
        again = conversations.get_or_create_identity(s, channel="telegram", external_id="12345")
        assert again.id == identity.id and again.client_language == "ar"
        assert conversations.current_conversation(s, identity=again).id == conv.id
    with sessions() as s:
        rows = conversations.transcript(s, channel="telegram", external_id="12345")
        assert [m.direction for m in rows] == ["in", "out"]
        assert rows[0].text == "مرحبا 👋 \u2400"
        assert rows[1].buttons == [{"title": "القائمة", "payload": "/help"}]


def test_same_external_id_on_two_channels_are_two_identities(
    sessions: sessionmaker[Session],
) -> None:
    with sessions() as s, s.begin():
        a = conversations.get_or_create_identity(s, channel="telegram", external_id="42")
        b = conversations.get_or_create_identity(s, channel="wechat", external_id="42")
        assert a.id != b.id and a.public_id != b.public_id


def test_demo_data_seeds_an_empty_database_once(sessions: sessionmaker[Session]) -> None:
    from bot.ops.demo import DEMO_CHANNEL, seed_demo

    with sessions() as s, s.begin():
        assert seed_demo(s) is True
    with sessions() as s, s.begin():
        assert seed_demo(s) is False
    with sessions() as s:
        failed = conversations.failed(s)
        assert len(failed) == 1 and failed[0].language == "ru"
        rows = conversations.transcript(s, channel=DEMO_CHANNEL, external_id="demo-amina")
        assert [m.direction for m in rows] == ["in", "out", "in"]


def test_upgrade_creates_the_sqlite_directory(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'fresh' / 'var' / 'expatbot.db'}"
    upgrade(url)  # a fresh clone has no var/ yet
    assert (tmp_path / "fresh" / "var" / "expatbot.db").exists()
