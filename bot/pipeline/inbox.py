"""The inbox: every inbound message stored once, and one turn per chat at a time.

Keyword-only data functions; callers own the session and its transaction.

- **Stored before anything else**: a message is committed (with its references in
  place of numbers, bot.records.references) before the channel acknowledges it.
- **Once**: the channel's own id of a message (Telegram's update_id, the web chat's
  client id, WeChat's MsgId) is unique per chat identity; the same id again is the same
  message, answered once.
- **One turn per chat at a time, across processes**: a lease on the chat identity's
  row (owner, expiry), taken by compare-and-set. Whoever holds it answers the chat's
  waiting messages oldest first, so two messages of one chat reaching two gateways at
  the same moment are answered one after the other, in order. A lease left by a crashed
  process expires, and the sweeper (bot.jobs.sweeper) answers what it left.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from bot.db import aware, conversations, insert_unless_present
from bot.db.models import ChatIdentity, Conversation, Message, utcnow
from bot.messages import Inbound, Kind
from bot.protocol import LINK_AWAITING
from bot.records import references
from bot.tickets import numbers, tickets
from rasa_addons.entities import ascii_digits

FINAL = frozenset({"answered", "rejected", "with_staff", "failed"})


@dataclass(frozen=True)
class Receipt:
    """What storing a message leaves: its row, its chat, and whether it was known."""

    message_id: int
    identity_id: int
    duplicate: bool
    status: str


def store_inbound(session: Session, *, inbound: Inbound, key: bytes, reply_later: bool) -> Receipt:
    """Store the message (or find it, when its id was seen before) and commit nothing:
    the caller's transaction does, before the channel acknowledges the message."""
    identity = conversations.get_or_create_identity(
        session,
        channel=inbound.channel,
        external_id=inbound.external_id,
        client_language=inbound.client_language,
    )
    known = _find(session, identity_id=identity.id, channel_message_id=inbound.message_id)
    if known is not None:
        return Receipt(known.id, identity.id, True, known.status)
    conv = conversations.current_conversation(session, identity=identity)
    text = references.protect(
        inbound.text,
        key=key,
        awaiting=identity.awaiting,
        keep=_own_ticket(session, identity, inbound.text),
    )
    values = {
        "conversation_id": conv.id,
        "identity_id": identity.id,
        "channel_message_id": inbound.message_id,
        "direction": "in",
        "kind": inbound.kind,
        "text": conversations.storable(text),
        "status": "received",
        "reply_later": reply_later,
        "attachment": inbound.attachment.to_json() if inbound.attachment else None,
        "created_at": utcnow(),
    }
    stmt = insert_unless_present(
        session, Message, values, conflict_on=["identity_id", "channel_message_id"]
    )
    inserted = session.execute(stmt.returning(Message.id)).scalar_one_or_none()
    if inserted is None:  # the same id stored by another request a moment ago
        known = _find(session, identity_id=identity.id, channel_message_id=inbound.message_id)
        assert known is not None
        return Receipt(known.id, identity.id, True, known.status)
    return Receipt(inserted, identity.id, False, "received")


def _own_ticket(
    session: Session, identity: ChatIdentity, text: str
) -> Callable[[str], bool] | None:
    """A ticket number has the shape of a card number (YW and ten digits), and card
    numbers never reach Rasa in clear. The chat's own ticket's number may: it names
    nothing the chat does not know. Any other (someone else's, one that does not exist)
    is replaced like a card number, so that both get the same answer."""
    if identity.awaiting in LINK_AWAITING:
        return None  # the link form asked for a card number: it is one
    number = numbers.find(text)
    if number is None or tickets.own_ticket(session, identity=identity, number=number) is None:
        return None
    # The span found may lack the letters ("yw 2026 000123": the card pattern takes an
    # upper-case prefix only): the digits decide.
    digits = re.sub(r"\D", "", number)
    return lambda raw: numbers.find(raw) == number or re.sub(r"\D", "", ascii_digits(raw)) == digits


def _find(session: Session, *, identity_id: int, channel_message_id: str) -> Message | None:
    return session.scalar(
        select(Message).where(
            Message.identity_id == identity_id,
            Message.channel_message_id == channel_message_id,
        )
    )


def try_lease(
    session: Session, *, identity_id: int, owner: str, ttl: dt.timedelta, now: dt.datetime
) -> ChatIdentity | None:
    """Take the chat's lease unless someone holds an unexpired one (compare-and-set).
    Returns the chat's row (read by the same statement), or None when it is held."""
    return session.scalars(
        update(ChatIdentity)
        .where(
            ChatIdentity.id == identity_id,
            or_(ChatIdentity.lease_until.is_(None), ChatIdentity.lease_until < now),
        )
        .values(lease_owner=owner, lease_until=now + ttl)
        .returning(ChatIdentity)
    ).one_or_none()


def renew_lease(
    session: Session, *, identity_id: int, owner: str, ttl: dt.timedelta, now: dt.datetime
) -> ChatIdentity | None:
    """Extend the lease and return the chat's row; None when the lease is no longer ours
    (it expired and was taken).

    It also locks the chat's row for the rest of the transaction: the transaction that
    stores a turn's outcome takes this row first, as storing a message does."""
    return session.scalars(
        update(ChatIdentity)
        .where(ChatIdentity.id == identity_id, ChatIdentity.lease_owner == owner)
        .values(lease_until=now + ttl)
        .returning(ChatIdentity)
    ).one_or_none()


def release_lease(session: Session, *, identity_id: int, owner: str) -> None:
    session.execute(
        update(ChatIdentity)
        .where(ChatIdentity.id == identity_id, ChatIdentity.lease_owner == owner)
        .values(lease_owner=None, lease_until=None)
    )


@dataclass(frozen=True)
class Pending:
    """A stored message waiting for its turn, with what handling it needs of its chat."""

    message_id: int
    identity_id: int
    channel: str
    kind: Kind
    text: str  # as stored: references in place of numbers and dates of birth
    created_at: dt.datetime
    reply_later: bool
    sender: str  # the chat identity's public id: all that Rasa knows of the user
    chosen: str | None  # the language the user chose explicitly
    language: str | None  # the conversation's language so far
    client_language: str | None
    awaiting: str | None  # what the assistant's last question asked for
    mode: str
    attachment: dict[str, Any] | None = None


def next_pending(session: Session, *, identity_id: int) -> Pending | None:
    """The chat's oldest message not yet handled, or None."""
    # The message with its conversation in one statement; the chat's row is in the
    # session already when the caller took or renewed the lease (the same statement).
    row = session.execute(
        select(Message, Conversation)
        .join(Conversation, Conversation.id == Message.conversation_id)
        .where(Message.identity_id == identity_id, Message.status == "received")
        .order_by(Message.id)
        .limit(1)
    ).first()
    if row is None:
        return None
    msg, conv = row
    identity = session.get(ChatIdentity, identity_id)
    assert identity is not None
    return Pending(
        message_id=msg.id,
        identity_id=identity_id,
        channel=identity.channel,
        kind=msg.kind,  # type: ignore[arg-type]
        text=msg.text,
        created_at=aware(msg.created_at),
        reply_later=msg.reply_later,
        sender=identity.public_id,
        chosen=identity.language if identity.language_chosen else None,
        language=conv.language or identity.language,
        client_language=identity.client_language,
        awaiting=identity.awaiting,
        mode=identity.mode,
        attachment=msg.attachment,
    )


def status_of(session: Session, *, message_id: int) -> str | None:
    """The message's status; None once it is gone (the chat asked to be forgotten)."""
    return session.scalar(select(Message.status).where(Message.id == message_id))


def state_of(session: Session, *, message_id: int) -> tuple[str, bool] | None:
    """The message's status, and whether its replies go through the outbox; None once
    it is gone."""
    row = session.execute(
        select(Message.status, Message.reply_later).where(Message.id == message_id)
    ).first()
    return (row[0], row[1]) if row is not None else None


def reply_later_if_waiting(session: Session, *, message_id: int) -> bool:
    """Send this message's replies through the outbox, as a request that waited for
    them gives up: True if it was still waiting, False if it was handled meanwhile."""
    changed = session.execute(
        update(Message)
        .where(Message.id == message_id, Message.status == "received")
        .values(reply_later=True)
        .returning(Message.id)
    ).scalar_one_or_none()
    return changed is not None


def replies_to(session: Session, *, message_id: int) -> list[Message]:
    return list(
        session.scalars(
            select(Message)
            .where(Message.reply_to_id == message_id, Message.direction == "out")
            .order_by(Message.id)
        )
    )


@dataclass(frozen=True)
class Orphan:
    identity_id: int
    message_id: int


def orphans(session: Session, *, older_than: dt.datetime, now: dt.datetime) -> list[Orphan]:
    """Messages still waiting after ``older_than`` in chats that no one holds: left by
    a process that stopped (or crashed) between storing and answering them."""
    rows = session.execute(
        select(Message.identity_id, Message.id)
        .join(ChatIdentity, ChatIdentity.id == Message.identity_id)
        .where(
            Message.direction == "in",
            Message.status == "received",
            Message.created_at < older_than,
            or_(ChatIdentity.lease_until.is_(None), ChatIdentity.lease_until < now),
        )
        .order_by(Message.id)
    )
    return [Orphan(identity_id=i, message_id=m) for i, m in rows if i is not None]


def mark_reply_later(session: Session, *, message_ids: list[int]) -> None:
    session.execute(
        update(Message)
        .where(Message.id.in_(message_ids), Message.status == "received")
        .values(reply_later=True)
    )
