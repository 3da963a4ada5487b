"""Database models: who writes to us, their conversations, and every message in and out."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    pass


class ChatIdentity(Base):
    """One user on one channel (a Telegram user id, a WeChat openid, a web chat session)."""

    __tablename__ = "chat_identity"
    __table_args__ = (UniqueConstraint("channel", "external_id", name="uq_identity_channel_ext"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    # Rasa sees only this opaque id, never the platform's user id.
    public_id: Mapped[str] = mapped_column(
        String(36), unique=True, default=lambda: str(uuid.uuid4())
    )
    channel: Mapped[str] = mapped_column(String(16))
    external_id: Mapped[str] = mapped_column(String(128))
    language: Mapped[str | None] = mapped_column(String(8))
    # True once the user picked a language explicitly; detection then never overrides it.
    language_chosen: Mapped[bool] = mapped_column(default=False)
    client_language: Mapped[str | None] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    # The resident this chat proved to be (bot.records.registry); None until linked.
    resident_id: Mapped[int | None] = mapped_column(
        ForeignKey("resident.id", ondelete="SET NULL"), index=True
    )
    reminders_enabled: Mapped[bool] = mapped_column(default=True)
    # Set when the platform says the user blocked the bot: no more messages are tried.
    blocked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # What the assistant's last question asked for, when the gateway must treat the answer
    # specially ("card_number": replaced by its keyed hash before Rasa sees it).
    awaiting: Mapped[str | None] = mapped_column(String(24))
    # When this chat proved who it is: a web-chat link expires some hours after it.
    linked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    conversations: Mapped[list[Conversation]] = relationship(back_populates="identity")


class Conversation(Base):
    __tablename__ = "conversation"

    id: Mapped[int] = mapped_column(primary_key=True)
    identity_id: Mapped[int] = mapped_column(ForeignKey("chat_identity.id", ondelete="CASCADE"))
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    last_message_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    language: Mapped[str | None] = mapped_column(String(8))

    identity: Mapped[ChatIdentity] = relationship(back_populates="conversations")
    messages: Mapped[list[Message]] = relationship(
        back_populates="conversation", order_by="Message.id"
    )


class Message(Base):
    """A message in (from the user) or out (from the assistant).

    Inbound status: ``received`` (stored, not yet processed), ``answered``,
    ``unanswered`` (Rasa or the action server failed; staff must see it) or
    ``rejected`` (bad input that got an explanatory reply).
    """

    __tablename__ = "message"
    __table_args__ = (
        Index("ix_message_conversation", "conversation_id", "id"),
        Index("ix_message_status", "direction", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversation.id", ondelete="CASCADE"))
    direction: Mapped[str] = mapped_column(String(3))  # "in" | "out"
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    kind: Mapped[str] = mapped_column(String(16), default="text")
    text: Mapped[str] = mapped_column(Text, default="")
    language: Mapped[str | None] = mapped_column(String(8))
    intent: Mapped[str | None] = mapped_column(String(64))
    confidence: Mapped[float | None] = mapped_column(Float)
    status: Mapped[str] = mapped_column(String(16), default="received")
    # The language the policy answer was given in, when it differs from the user's
    # (a missing translation): counted for editors by `answers status`.
    answer_language: Mapped[str | None] = mapped_column(String(8))
    buttons: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON)
    reply_to_id: Mapped[int | None] = mapped_column(ForeignKey("message.id", ondelete="SET NULL"))

    conversation: Mapped[Conversation] = relationship(back_populates="messages")


class AnswerVote(Base):
    """A user's "helpful / not helpful" on a policy answer, for the editors."""

    __tablename__ = "answer_vote"
    __table_args__ = (Index("ix_answer_vote_topic", "topic", "language"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    # Cleared when the user asks to be forgotten: the vote stays, as an anonymous count.
    identity_id: Mapped[int | None] = mapped_column(
        ForeignKey("chat_identity.id", ondelete="CASCADE")
    )
    topic: Mapped[str] = mapped_column(String(64))
    language: Mapped[str] = mapped_column(String(8))
    helpful: Mapped[bool] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Resident(Base):
    """A foreign resident as the registry knows them. Numbers and the date of birth are
    stored as keyed hashes (for comparison), numbers also as their last four characters
    (for display): see bot.records.registry.secrets. Nothing here is a secret in clear."""

    __tablename__ = "resident"

    id: Mapped[int] = mapped_column(primary_key=True)
    full_name: Mapped[str] = mapped_column(String(200))
    birth_hash: Mapped[str] = mapped_column(String(64))
    nationality: Mapped[str | None] = mapped_column(String(3))
    passport_hash: Mapped[str] = mapped_column(String(64), unique=True)
    passport_last4: Mapped[str] = mapped_column(String(4))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    cards: Mapped[list[MerchantCard]] = relationship(back_populates="resident")
    documents: Mapped[list[TravelDocument]] = relationship(back_populates="resident")


class MerchantCard(Base):
    __tablename__ = "merchant_card"

    id: Mapped[int] = mapped_column(primary_key=True)
    resident_id: Mapped[int] = mapped_column(ForeignKey("resident.id", ondelete="CASCADE"))
    number_hash: Mapped[str] = mapped_column(String(64), unique=True)
    # The hash of the digits alone: users often type a card number without its letter
    # prefix, and different prefixes can share digits, so this one is not unique.
    digits_hash: Mapped[str | None] = mapped_column(String(64), index=True)
    number_last4: Mapped[str] = mapped_column(String(4))
    status: Mapped[str] = mapped_column(String(16))  # active | expired | suspended | lost
    issued_on: Mapped[date] = mapped_column(Date)
    expires_on: Mapped[date] = mapped_column(Date)

    resident: Mapped[Resident] = relationship(back_populates="cards")


class TravelDocument(Base):
    """A visa or a residence permit."""

    __tablename__ = "travel_document"

    id: Mapped[int] = mapped_column(primary_key=True)
    resident_id: Mapped[int] = mapped_column(ForeignKey("resident.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(24))  # visa | residence_permit
    visa_type: Mapped[str] = mapped_column(String(8))  # M, Z, X1, Q2, S1, L, ...
    number_hash: Mapped[str] = mapped_column(String(64), unique=True)
    number_last4: Mapped[str] = mapped_column(String(4))
    entries: Mapped[str | None] = mapped_column(String(16))  # single | double | multiple
    expires_on: Mapped[date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(16))  # valid | expired | cancelled

    resident: Mapped[Resident] = relationship(back_populates="documents")


class Reminder(Base):
    """One reminder for one document at one threshold, claimed (inserted) before it is
    sent: the unique constraint makes every reminder go out at most once, however many
    jobs run at the same time."""

    __tablename__ = "reminder"
    __table_args__ = (
        UniqueConstraint("document", "document_id", "threshold_days", name="uq_reminder_once"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    resident_id: Mapped[int] = mapped_column(ForeignKey("resident.id", ondelete="CASCADE"))
    document: Mapped[str] = mapped_column(String(24))  # merchant_card | travel_document
    document_id: Mapped[int] = mapped_column()
    threshold_days: Mapped[int] = mapped_column()
    expires_on: Mapped[date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(16), default="claimed")  # sent | blocked | no_chat
    claimed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class LinkAttempt(Base):
    """One finished attempt to prove who one is (bot.records.accounts): failures in the last 24
    hours lock the chat identity. Kept when a user asks to be forgotten, so that
    forgetting cannot be used to reset the lockout; nothing typed is stored here."""

    __tablename__ = "link_attempt"
    __table_args__ = (
        Index("ix_link_attempt_identity", "identity_id", "created_at"),
        Index("ix_link_attempt_card_ref", "card_ref", "created_at"),
        Index("ix_link_attempt_created", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    identity_id: Mapped[int] = mapped_column(ForeignKey("chat_identity.id", ondelete="CASCADE"))
    succeeded: Mapped[bool] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    # The card reference tried (a keyed hash, bot.records.references): failures are counted per
    # card as well as per chat, so that new chats do not get fresh tries at one card.
    card_ref: Mapped[str | None] = mapped_column(String(80))


class LinkTarget(Base):
    """One row per card reference ever tried: locked (SELECT ... FOR UPDATE) while an
    attempt at that card is counted and compared, so that parallel attempts at one card
    are counted one after the other and the lockout's threshold is crossed exactly once."""

    __tablename__ = "link_target"

    ref: Mapped[str] = mapped_column(String(80), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class StaffAlert(Base):
    """Something a member of staff must look at (a locked-out chat, ...)."""

    __tablename__ = "staff_alert"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))  # link_lockout
    identity_id: Mapped[int | None] = mapped_column(
        ForeignKey("chat_identity.id", ondelete="SET NULL"), index=True
    )
    details: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    # Set when the alert was sent to the staff chat (bot/jobs/alerts.py).
    notified_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    resolved_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
