"""Migrations and models, on SQLite and (when reachable) PostgreSQL."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from sqlalchemy import event, inspect
from sqlalchemy.orm import Session, sessionmaker

from bot.db import aware, conversations, make_engine, upgrade
from bot.db.models import utcnow


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


def test_a_known_identity_is_marked_seen_and_unblocked_by_one_statement(
    sessions: sessionmaker[Session],
) -> None:
    with sessions() as s, s.begin():
        first = conversations.get_or_create_identity(
            s, channel="telegram", external_id="7", client_language="ru"
        )
        first.blocked_at = first.last_seen_at  # the platform said the user blocked us
    seen_before = first.last_seen_at
    statements: list[str] = []
    engine = sessions.kw["bind"]
    listen = lambda *a: statements.append(a[2])  # noqa: E731 - (conn, cursor, statement, ...)
    event.listen(engine, "before_cursor_execute", listen)
    try:
        with sessions() as s, s.begin():
            again = conversations.get_or_create_identity(s, channel="telegram", external_id="7")
    finally:
        event.remove(engine, "before_cursor_execute", listen)
    assert len(statements) == 1 and statements[0].lstrip().upper().startswith("UPDATE")
    assert again.id == first.id and again.public_id == first.public_id
    # Writing again unblocks; a message without a client language keeps the one known.
    assert again.blocked_at is None and again.client_language == "ru"
    assert aware(again.last_seen_at) >= aware(seen_before)


def test_a_conversation_idle_for_twelve_hours_is_followed_by_a_new_one(
    sessions: sessionmaker[Session],
) -> None:
    with sessions() as s, s.begin():
        identity = conversations.get_or_create_identity(s, channel="web", external_id="idle")
        first = conversations.current_conversation(s, identity=identity)
    with sessions() as s, s.begin():
        again = conversations.current_conversation(s, identity=identity)
        assert again.id == first.id and aware(again.last_message_at) >= aware(first.last_message_at)
        # Just inside the limit: the same conversation, marked as having a message now.
        again.last_message_at = utcnow() - conversations.CONVERSATION_IDLE + timedelta(minutes=1)
    with sessions() as s, s.begin():
        kept = conversations.current_conversation(s, identity=identity)
        assert kept.id == first.id
        assert utcnow() - aware(kept.last_message_at) < timedelta(minutes=1)
        kept.last_message_at = utcnow() - conversations.CONVERSATION_IDLE - timedelta(minutes=1)
    with sessions() as s, s.begin():
        new = conversations.current_conversation(s, identity=identity)
        assert new.id != first.id and new.identity_id == identity.id
    with sessions() as s, s.begin():
        # The newest conversation is the one continued, not the old one.
        assert conversations.current_conversation(s, identity=identity).id == new.id


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
