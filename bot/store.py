"""Keyword-only data functions over the conversation tables. Callers own the session."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bot.models import AnswerVote, ChatIdentity, Conversation, Message, utcnow

# Stored instead of a message that answered an identity question (see bot.accounts).
REDACTED = "[identity details, not kept]"
# After this long without a message, the next one starts a new conversation.
CONVERSATION_IDLE = timedelta(hours=12)


def get_or_create_identity(
    session: Session, *, channel: str, external_id: str, client_language: str | None = None
) -> ChatIdentity:
    identity = session.scalar(
        select(ChatIdentity).where(
            ChatIdentity.channel == channel, ChatIdentity.external_id == external_id
        )
    )
    if identity is None:
        identity = ChatIdentity(channel=channel, external_id=external_id)
        session.add(identity)
    if client_language:
        identity.client_language = client_language[:16]
    identity.last_seen_at = utcnow()
    session.flush()
    return identity


def current_conversation(session: Session, *, identity: ChatIdentity) -> Conversation:
    conv = session.scalar(
        select(Conversation)
        .where(Conversation.identity_id == identity.id)
        .order_by(Conversation.id.desc())
        .limit(1)
    )
    now = utcnow()
    if conv is not None:
        last = conv.last_message_at
        if last.tzinfo is None:  # SQLite returns naive datetimes
            last = last.replace(tzinfo=now.tzinfo)
        if now - last <= CONVERSATION_IDLE:
            conv.last_message_at = now
            return conv
    conv = Conversation(identity_id=identity.id, language=identity.language)
    session.add(conv)
    session.flush()
    return conv


def storable(text: str) -> str:
    """The text as received, except NUL, which PostgreSQL cannot store: it becomes "␀"."""
    return text.replace("\x00", "\u2400")


def record_inbound(
    session: Session, *, conversation: Conversation, text: str, kind: str
) -> Message:
    msg = Message(conversation_id=conversation.id, direction="in", text=storable(text), kind=kind)
    session.add(msg)
    session.flush()
    return msg


def record_outbound(
    session: Session,
    *,
    conversation: Conversation,
    text: str,
    language: str,
    reply_to: int | None,
    buttons: Sequence[dict[str, Any]] | None = None,
) -> Message:
    msg = Message(
        conversation_id=conversation.id,
        direction="out",
        text=text,
        kind="text",
        language=language,
        status="sent",
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


def unanswered(session: Session) -> list[Message]:
    return list(
        session.scalars(
            select(Message)
            .where(Message.direction == "in", Message.status == "unanswered")
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
