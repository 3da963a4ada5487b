"""Keyword-only data functions over the conversation tables. Callers own the session."""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from sqlalchemy import String, cast, func, select, update
from sqlalchemy.orm import Session

from bot.db import insert_unless_present
from bot.db.models import AnswerVote, ChatIdentity, Conversation, Message, utcnow

# Stored instead of a message that answered an identity question (see bot.records.accounts).
REDACTED = "[identity details, not kept]"
# After this long without a message, the next one starts a new conversation.
CONVERSATION_IDLE = timedelta(hours=12)


def find_identity(session: Session, *, channel: str, external_id: str) -> ChatIdentity | None:
    return session.scalar(
        select(ChatIdentity).where(
            ChatIdentity.channel == channel, ChatIdentity.external_id == external_id
        )
    )


def get_or_create_identity(
    session: Session, *, channel: str, external_id: str, client_language: str | None = None
) -> ChatIdentity:
    """The chat identity, created if new: with an insert that ignores a conflict, so
    that simultaneous first messages of one user (five browser tabs, a burst on
    Telegram) all find one row instead of all but one failing on the unique constraint.

    A known identity costs one statement: the UPDATE that marks it seen returns the row
    (a SELECT and then the ORM's UPDATE were two, on every message)."""
    seen: dict[str, Any] = {"last_seen_at": utcnow(), "blocked_at": None}
    # A user who writes can be written to again, whatever a platform said before.
    if client_language:
        seen["client_language"] = client_language[:16]
    touch = (
        update(ChatIdentity)
        .where(ChatIdentity.channel == channel, ChatIdentity.external_id == external_id)
        .values(**seen)
        .returning(ChatIdentity)
        .execution_options(populate_existing=True)
    )
    identity = session.scalars(touch).one_or_none()
    if identity is None:
        values = {"channel": channel, "external_id": external_id, "public_id": str(uuid.uuid4())}
        key = ["channel", "external_id"]
        session.execute(insert_unless_present(session, ChatIdentity, values, conflict_on=key))
        identity = session.scalars(touch).one()
    return identity


def current_conversation(session: Session, *, identity: ChatIdentity) -> Conversation:
    """The chat's conversation, marked as having a message now; a new one after
    CONVERSATION_IDLE without messages. A live conversation costs one statement."""
    now = utcnow()
    newest = (
        select(func.max(Conversation.id))
        .where(Conversation.identity_id == identity.id)
        .scalar_subquery()
    )
    conv = session.scalars(
        update(Conversation)
        .where(Conversation.id == newest, Conversation.last_message_at >= now - CONVERSATION_IDLE)
        .values(last_message_at=now)
        .returning(Conversation)
        .execution_options(populate_existing=True)
    ).one_or_none()
    if conv is not None:
        return conv
    conv = Conversation(identity_id=identity.id, language=identity.language)
    session.add(conv)
    session.flush()
    return conv


_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def storable(text: str) -> str:
    """The text as received, except what no database can store as text: NUL becomes "␀"
    and a lone surrogate (valid in JSON's \\u escapes, invalid in UTF-8) becomes "\ufffd"."""
    return _LONE_SURROGATE.sub("\ufffd", text.replace("\x00", "\u2400"))


def record_inbound(
    session: Session,
    *,
    conversation: Conversation,
    text: str,
    kind: str,
    status: str = "received",
) -> Message:
    """An inbound message written directly (demo data, tests); the gateway's own way in
    is bot.pipeline.inbox.store_inbound, which also de-duplicates."""
    msg = Message(
        conversation_id=conversation.id,
        identity_id=conversation.identity_id,
        direction="in",
        text=storable(text),
        kind=kind,
        status=status,
    )
    session.add(msg)
    session.flush()
    return msg


def record_outbound(
    session: Session,
    *,
    conversation_id: int,
    text: str,
    language: str,
    reply_to: int | None,
    buttons: Sequence[dict[str, Any]] | None = None,
    status: str = "sent",
    author: str = "bot",
    staff_id: int | None = None,
) -> Message:
    """A message to the user in the transcript: ``sent`` (returned in the request) or
    ``queued`` (its outbox row says how delivery goes); by the bot, staff or the system."""
    msg = Message(
        conversation_id=conversation_id,
        direction="out",
        text=text,
        kind="text",
        language=language,
        status=status,
        author=author,
        staff_id=staff_id,
        buttons=list(buttons) if buttons else None,
        reply_to_id=reply_to,
    )
    session.add(msg)
    session.flush()
    return msg


def transcript(session: Session, *, channel: str, external_id: str) -> list[Message]:
    """Every message of this chat identity, oldest first."""
    return list(
        session.scalars(
            select(Message)
            .join(Conversation)
            .join(ChatIdentity)
            .where(ChatIdentity.channel == channel, ChatIdentity.external_id == external_id)
            .order_by(Message.id)
        )
    )


def failed(session: Session) -> list[Message]:
    """Inbound messages that ended ``failed``: the user got an apology, staff should look."""
    return list(
        session.scalars(
            select(Message)
            .where(Message.direction == "in", Message.status == "failed")
            .order_by(Message.id)
        )
    )


def record_vote(
    session: Session, *, identity_id: int, topic: str, language: str, helpful: bool
) -> AnswerVote:
    vote = AnswerVote(identity_id=identity_id, topic=topic, language=language, helpful=helpful)
    session.add(vote)
    session.flush()
    return vote


def lock_identity(session: Session, *, identity_id: int) -> None:
    """Hold this chat identity's row until the transaction ends, so that a check and the
    write it allows (has_voted, then record_vote) are not interleaved with another
    message of the same chat. An UPDATE rather than SELECT ... FOR UPDATE: SQLite has no
    row locks, and its driver begins the write transaction only at the first write, so
    the checks read outside any transaction unless a write comes first."""
    session.execute(
        update(ChatIdentity)
        .where(ChatIdentity.id == identity_id)
        .values(last_seen_at=ChatIdentity.last_seen_at)
        .execution_options(synchronize_session=False)
    )


def _like_literal(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def was_shown_button(session: Session, *, identity_id: int, payload: str) -> bool:
    """Whether a reply to this chat identity offered a button with exactly this payload
    (any of its conversations; a forgotten chat's messages are gone, and so is this)."""
    # The JSON text is only a coarse filter (its escaping differs between databases);
    # the payloads are compared exactly once decoded.
    coarse = "%" + _like_literal(payload) + "%"
    rows = session.scalars(
        select(Message.buttons)
        .join(Conversation, Message.conversation_id == Conversation.id)
        .where(
            Conversation.identity_id == identity_id,
            Message.direction == "out",
            cast(Message.buttons, String).like(coarse, escape="\\"),
        )
    )
    return any(
        isinstance(b, dict) and b.get("payload") == payload
        for buttons in rows
        if isinstance(buttons, list)
        for b in buttons
    )


def last_question(
    session: Session, *, identity_id: int, marker: str, within: int = 20
) -> Message | None:
    """The newest of the chat's last ``within`` replies that offered a button with the
    payload ``marker`` (every question of a form offers Cancel): the question to ask
    again after a message that did not answer it."""
    rows = session.scalars(
        select(Message)
        .join(Conversation, Message.conversation_id == Conversation.id)
        .where(Conversation.identity_id == identity_id, Message.direction == "out")
        .order_by(Message.id.desc())
        .limit(within)
    )
    for row in rows:
        buttons = row.buttons if isinstance(row.buttons, list) else []
        if any(isinstance(b, dict) and b.get("payload") == marker for b in buttons):
            return row
    return None


def last_offered_buttons(
    session: Session, *, identity_id: int, within: int = 3
) -> list[tuple[str, str]] | None:
    """The (title, payload) pairs of the newest of the chat's last ``within`` replies,
    when that reply offered buttons; None when it did not."""
    rows = session.scalars(
        select(Message.buttons)
        .join(Conversation, Message.conversation_id == Conversation.id)
        .where(Conversation.identity_id == identity_id, Message.direction == "out")
        .order_by(Message.id.desc())
        .limit(within)
    )
    for buttons in rows:
        if isinstance(buttons, list) and buttons:
            return [
                (str(b.get("title", "")), str(b["payload"]))
                for b in buttons
                if isinstance(b, dict) and b.get("payload")
            ]
    return None


def has_voted(session: Session, *, identity_id: int, topic: str) -> bool:
    return (
        session.scalar(
            select(AnswerVote.id)
            .where(AnswerVote.identity_id == identity_id, AnswerVote.topic == topic)
            .limit(1)
        )
        is not None
    )


def vote_counts(session: Session) -> dict[tuple[str, str], tuple[int, int]]:
    """(topic, language) -> (helpful, not helpful)."""
    rows = session.execute(
        select(AnswerVote.topic, AnswerVote.language, AnswerVote.helpful, func.count()).group_by(
            AnswerVote.topic, AnswerVote.language, AnswerVote.helpful
        )
    )
    counts: dict[tuple[str, str], tuple[int, int]] = {}
    for topic, language, helpful, n in rows:
        up, down = counts.get((topic, language), (0, 0))
        counts[(topic, language)] = (up + n, down) if helpful else (up, down + n)
    return counts


def english_fallbacks(session: Session) -> dict[tuple[str, str], int]:
    """(topic, user's language) -> how often users got the answer in another language."""
    rows = session.execute(
        select(Message.intent, Message.language, func.count())
        .where(
            Message.answer_language.is_not(None),
            Message.answer_language != Message.language,
        )
        .group_by(Message.intent, Message.language)
    )
    return {(str(topic), str(lang)): int(n) for topic, lang, n in rows}
