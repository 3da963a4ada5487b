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
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy import (
    false as sa_false,
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
    # Who answers this chat (bot.handoff.modes): "bot" (Rasa), or, from the staff
    # console, "queued" and "human". Kept on the chat, not on one 12-hour conversation:
    # a chat with a person outlives the split. Changed only by compare-and-set.
    mode: Mapped[str] = mapped_column(String(16), default="bot", server_default="bot")
    # The inbox's lease (bot.pipeline.inbox): one turn of this chat at a time, across
    # processes. Whoever holds an unexpired lease answers the chat's waiting messages.
    lease_owner: Mapped[str | None] = mapped_column(String(36))
    lease_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

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

    Inbound status: ``received`` (stored, not yet processed), then exactly one final
    state: ``answered``, ``rejected`` (bad input that got an explanatory reply),
    ``with_staff`` (routed to a person, not to Rasa) or ``failed`` (Rasa, the action
    server or the database failed, or it waited too long: an apology was sent).
    Outbound status: ``sent`` (a direct reply, returned in the request) or ``queued``
    (sent through the outbox, whose row tells how delivery went).
    """

    __tablename__ = "message"
    __table_args__ = (
        Index("ix_message_conversation", "conversation_id", "id"),
        Index("ix_message_status", "direction", "status"),
        # The inbox: the channel's own id of a message (Telegram's update_id, the web
        # chat's client id, WeChat's MsgId) once per chat identity, so that a message
        # delivered twice is stored and answered once.
        UniqueConstraint("identity_id", "channel_message_id", name="uq_message_channel_id"),
        Index("ix_message_pending", "identity_id", "status"),
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
    # Inbound only: the chat identity (the inbox's scope) and the channel's message id.
    identity_id: Mapped[int | None] = mapped_column(
        ForeignKey("chat_identity.id", ondelete="CASCADE")
    )
    channel_message_id: Mapped[str | None] = mapped_column(String(128))
    # Inbound only: a photo or document, as the channel names it (bot.messages.Attachment:
    # where to fetch it, its name, declared type and size, its album), stored before the
    # file is fetched, so that a failure to fetch it loses nothing.
    attachment: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    # Inbound only: the replies go through the outbox rather than back in the request
    # (channels that cannot reply in the request; a request that stopped waiting; a
    # message recovered after a crash).
    reply_later: Mapped[bool] = mapped_column(default=False, server_default=sa_false())
    # Outbound only: who wrote it: "bot" (Rasa's actions or the gateway), "staff" (a
    # member of staff, ``staff_id``) or "system" (the handoff's own notices).
    author: Mapped[str | None] = mapped_column(String(8))
    staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff_user.id", ondelete="SET NULL"))

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
    # claimed -> queued (in the outbox, one row per chat: bot.jobs.reminders) | no_chat
    status: Mapped[str] = mapped_column(String(16), default="claimed")
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
    # Rendered in English for the command line; staff read the alert in their own
    # language, rendered from ``kind`` and ``params`` through the catalogs (bot.jobs.alerts).
    details: Mapped[str] = mapped_column(Text, default="")
    params: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    # Set when the alert was sent to the staff chat (bot/jobs/alerts.py).
    notified_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    resolved_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class Outbox(Base):
    """One message to a user (or to staff) that is not the direct reply to a request:
    reminders, staff alerts, replies that leave after the request ended (Telegram,
    WeChat), later staff replies and ticket updates. bot.delivery owns it.

    Status: ``pending`` (waiting for its turn or its next try), ``sending`` (claimed by
    a sender until ``lease_until``), and the final ``delivered``, ``blocked`` (the user
    blocked the bot) or ``failed`` (with ``last_error``). The idempotency key makes a
    message enqueued twice one row; the lease makes one sender try it at a time.
    """

    __tablename__ = "outbox"
    __table_args__ = (
        UniqueConstraint("idempotency_key", name="uq_outbox_key"),
        Index("ix_outbox_due", "status", "next_attempt_at"),
        Index("ix_outbox_recipient", "channel", "recipient", "id"),
        Index("ix_outbox_identity", "identity_id", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    idempotency_key: Mapped[str] = mapped_column(String(160))
    channel: Mapped[str] = mapped_column(String(16))
    # The platform's address: a Telegram chat id, a WeChat openid; for the web chat and
    # the terminal (which collect their messages) the identity is what counts.
    recipient: Mapped[str] = mapped_column(String(128))
    identity_id: Mapped[int | None] = mapped_column(
        ForeignKey("chat_identity.id", ondelete="CASCADE")
    )
    # The transcript's copy of this message, when it belongs to a conversation.
    message_id: Mapped[int | None] = mapped_column(ForeignKey("message.id", ondelete="SET NULL"))
    kind: Mapped[str] = mapped_column(String(24))  # reply | reminder | staff_alert | apology
    text: Mapped[str] = mapped_column(Text)
    language: Mapped[str] = mapped_column(String(8))
    buttons: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    lease_owner: Mapped[str | None] = mapped_column(String(36))
    lease_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_error: Mapped[str | None] = mapped_column(String(300))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class RateLimit(Base):
    """The state of one rate limit shared by every process (bot.delivery.rate_limit):
    the theoretical arrival time of the generic cell rate algorithm, in seconds."""

    __tablename__ = "rate_limit"

    key: Mapped[str] = mapped_column(String(160), primary_key=True)
    tat: Mapped[float] = mapped_column(Float, default=0.0)


class JobRun(Base):
    """When a scheduled job last ran, and who runs it now (bot.jobs.scheduler): a job
    runs in one process at a time, however many gateways and workers there are."""

    __tablename__ = "job_run"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    last_started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    lease_owner: Mapped[str | None] = mapped_column(String(36))
    lease_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class StaffUser(Base):
    """A member of staff of the service center, for the console (bot.staff)."""

    __tablename__ = "staff_user"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[str] = mapped_column(String(16))  # agent | supervisor | editor | admin
    password_hash: Mapped[str] = mapped_column(String(200))  # argon2
    # Base32 secret of the optional second factor (TOTP); None when it is off.
    totp_secret: Mapped[str | None] = mapped_column(String(64))
    language: Mapped[str] = mapped_column(String(8), default="zh")
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class StaffSession(Base):
    """A logged-in console session: the cookie's SHA-256, never the cookie."""

    __tablename__ = "staff_session"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff_user.id", ondelete="CASCADE"))
    # The synchronizer token every form of this session must carry.
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class StaffLoginAttempt(Base):
    """One login, by the account name typed (known or not): failures lock the name."""

    __tablename__ = "staff_login_attempt"
    __table_args__ = (Index("ix_staff_login_name", "name", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64))
    succeeded: Mapped[bool] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Handoff(Base):
    """A user's request for a person, from the request to its end (bot.handoff).

    Status: ``queued`` (waiting for a member of staff), ``active`` (``assignee_id`` has
    it), ``closed`` (with ``outcome``). The chat's mode (ChatIdentity.mode) follows it,
    changed in the same transaction.
    """

    __tablename__ = "handoff"
    __table_args__ = (
        Index("ix_handoff_status", "status", "requested_at"),
        Index("ix_handoff_identity", "identity_id", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    identity_id: Mapped[int] = mapped_column(ForeignKey("chat_identity.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(String(16), default="queued")
    # request_human | button | not_helpful | fallbacks | lockout | unavailable
    reason: Mapped[str] = mapped_column(String(24))
    language: Mapped[str] = mapped_column(String(8))
    requested_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    taken_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    assignee_id: Mapped[int | None] = mapped_column(
        ForeignKey("staff_user.id", ondelete="SET NULL")
    )
    closed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # resolved | referred | no_reply | handed_back | user_ended | forgotten
    outcome: Mapped[str | None] = mapped_column(String(24))
    # The user's rating of the help, 1-5, once.
    rating: Mapped[int | None] = mapped_column(Integer)
    # Changed on every transition: what the console's live updates watch.
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class HandoffNote(Base):
    """An internal note of staff on a chat: never sent to the user."""

    __tablename__ = "handoff_note"

    id: Mapped[int] = mapped_column(primary_key=True)
    identity_id: Mapped[int] = mapped_column(ForeignKey("chat_identity.id", ondelete="CASCADE"))
    handoff_id: Mapped[int | None] = mapped_column(ForeignKey("handoff.id", ondelete="SET NULL"))
    staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff_user.id", ondelete="SET NULL"))
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class AuditEntry(Base):
    """Who did what, when, to which chat: append-only (the database refuses UPDATE and
    DELETE on this table). No message text: what was written is in the transcript."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_identity", "identity_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    # The account (None for a failed login of a name no account has) and its name then.
    staff_id: Mapped[int | None] = mapped_column(Integer)
    staff_name: Mapped[str] = mapped_column(String(64))
    # login | login_failed | logout | take | reply | note | transfer | hand_back | close | ...
    action: Mapped[str] = mapped_column(String(32))
    # Plain numbers, not foreign keys: the log outlives what it names.
    identity_id: Mapped[int | None] = mapped_column(Integer)
    handoff_id: Mapped[int | None] = mapped_column(Integer)
    details: Mapped[dict[str, Any] | None] = mapped_column(JSON)


class Ticket(Base):
    """A dispute filed by a user: against a supplier, a landlord, a shop, a carrier.

    ``status`` follows bot.tickets.lifecycle (``draft`` while the user fills the form,
    then submitted, triaged, in_progress, waiting_user, resolved, closed, rejected,
    duplicate, withdrawn); every change is a TicketEvent. The ticket belongs to the chat
    identity that filed it, and to the resident once that chat is linked.
    """

    __tablename__ = "ticket"
    __table_args__ = (
        UniqueConstraint("number", name="uq_ticket_number"),
        UniqueConstraint("idempotency_key", name="uq_ticket_key"),
        Index("ix_ticket_status", "status", "created_at"),
        Index("ix_ticket_identity", "identity_id", "status"),
        Index("ix_ticket_resident", "resident_id"),
        Index("ix_ticket_party", "party_key", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # YW-2026-000123 (bot.tickets.numbers): set when the draft is submitted.
    number: Mapped[str | None] = mapped_column(String(20))
    # The draft's key: a retried submission finds the ticket it made, never a second one.
    idempotency_key: Mapped[str] = mapped_column(String(64))
    identity_id: Mapped[int | None] = mapped_column(
        ForeignKey("chat_identity.id", ondelete="SET NULL")
    )
    resident_id: Mapped[int | None] = mapped_column(ForeignKey("resident.id", ondelete="SET NULL"))
    language: Mapped[str] = mapped_column(String(8))
    status: Mapped[str] = mapped_column(String(16), default="draft")
    # supplier | landlord | shop | logistics | other
    kind: Mapped[str | None] = mapped_column(String(16))
    party_name: Mapped[str | None] = mapped_column(String(200))
    # For a market stall: the district and booth as the user wrote them.
    party_place: Mapped[str | None] = mapped_column(String(200))
    party_contact: Mapped[str | None] = mapped_column(String(100))
    # The other party's name, normalised, for "this party has other open tickets".
    party_key: Mapped[str | None] = mapped_column(String(200))
    # What happened, in the user's own words, whole.
    description: Mapped[str | None] = mapped_column(Text)
    happened_on: Mapped[date | None] = mapped_column(Date)
    # The amount at stake, as a decimal string ("2500.50"), and its ISO currency.
    amount: Mapped[str | None] = mapped_column(String(24))
    currency: Mapped[str | None] = mapped_column(String(3))
    # refund | replacement | deposit_back | mediation
    wants: Mapped[str | None] = mapped_column(String(16))
    assignee_id: Mapped[int | None] = mapped_column(
        ForeignKey("staff_user.id", ondelete="SET NULL")
    )
    duplicate_of_id: Mapped[int | None] = mapped_column(
        ForeignKey("ticket.id", ondelete="SET NULL")
    )
    # Why it was rejected: shown to the user.
    reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    submitted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Targets (bot.tickets.targets), set on submission from the kind.
    respond_by: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    resolve_by: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    first_response_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    resolved_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    closed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Changed with every event: the list's "last update", and what live pages watch.
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class TicketEvent(Base):
    """One thing that happened to a ticket: a status change (who, when, from, to), a
    public reply of staff, an internal note, a message or evidence from the user, an
    assignment. Public events are what the user reads of their ticket."""

    __tablename__ = "ticket_event"
    __table_args__ = (Index("ix_ticket_event_ticket", "ticket_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("ticket.id", ondelete="CASCADE"))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    # status | reply | note | user_message | evidence | assign
    kind: Mapped[str] = mapped_column(String(16))
    # user | staff | system
    actor: Mapped[str] = mapped_column(String(8))
    staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff_user.id", ondelete="SET NULL"))
    from_status: Mapped[str | None] = mapped_column(String(16))
    to_status: Mapped[str | None] = mapped_column(String(16))
    text: Mapped[str | None] = mapped_column(Text)
    # Shown to the user (status changes, public replies, their own messages).
    public: Mapped[bool] = mapped_column(default=False)


class Evidence(Base):
    """A photo or document attached to a ticket (or to a draft). The file itself is kept
    outside the web root under its content's SHA-256 (bot.tickets.evidence), after its
    metadata (GPS location and the rest) was stripped."""

    __tablename__ = "evidence"
    __table_args__ = (
        Index("ix_evidence_ticket", "ticket_id", "id"),
        Index("ix_evidence_sha", "sha256"),
        # One inbound message gives one file, however often it is processed.
        UniqueConstraint("ticket_id", "message_id", name="uq_evidence_message"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("ticket.id", ondelete="CASCADE"))
    message_id: Mapped[int | None] = mapped_column(ForeignKey("message.id", ondelete="SET NULL"))
    sha256: Mapped[str] = mapped_column(String(64))
    mime: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(120))
    # The album it came in (Telegram's media_group_id): an album is one acknowledgement.
    album: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class WeChatNonce(Base):
    """A nonce of a WeChat callback already seen: the same nonce again is a replay and is
    refused (bot.channels.wechat). Kept a little longer than a callback may be old."""

    __tablename__ = "wechat_nonce"
    __table_args__ = (Index("ix_wechat_nonce_seen", "seen_at"),)

    nonce: Mapped[str] = mapped_column(String(64), primary_key=True)
    seen_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class WeChatToken(Base):
    """The official account's access token, shared by every gateway and worker: fetched
    from the stable-token endpoint by one process at a time (a lease), before it expires
    (bot.channels.wechat_api)."""

    __tablename__ = "wechat_token"

    app_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    access_token: Mapped[str | None] = mapped_column(String(600))
    expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    lease_owner: Mapped[str | None] = mapped_column(String(36))
    lease_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class WeChatWindow(Base):
    """When the official account may still send a user customer-service messages, and how
    many (bot.channels.wechat_window): WeChat allows 5 in the 48 hours after the user's
    last message, and 3 in the minute after a menu click, a follow or a scan. Sends the
    window does not allow are not tried: their outbox rows are ``held`` until the user
    writes again."""

    __tablename__ = "wechat_window"

    openid: Mapped[str] = mapped_column(String(128), primary_key=True)
    message_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    message_left: Mapped[int] = mapped_column(Integer, default=0)
    event_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    event_left: Mapped[int] = mapped_column(Integer, default=0)


class RasaErasure(Base):
    """A conversation Rasa must forget: the public id a chat had before "forget me"
    (Rasa knows a chat only by it). Rasa keeps each conversation in its tracker store
    (PostgreSQL in a cluster), out of the gateway's reach: the erasure job asks a Rasa
    server to delete it (bot.jobs.erasures), and the row goes once one has. Until then
    it is tried again: forgetting is promised to the user, so it is never dropped."""

    __tablename__ = "rasa_erasure"

    sender: Mapped[str] = mapped_column(String(36), primary_key=True)
    requested_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(String(200))
