"""One chat as staff see it: the whole transcript (user, bot, staff, and the handoff's own
events, each with its time and language), the intent the bot understood for each
message with the topic's Chinese title, the staff's notes, who has the chat, and the
user's linked status with masked numbers only."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.answers.store import AnswerStore
from bot.db import aware
from bot.db.models import (
    AuditEntry,
    ChatIdentity,
    Conversation,
    Handoff,
    HandoffNote,
    Message,
    Outbox,
    StaffUser,
)
from bot.handoff import canned, handoffs
from bot.records import accounts as records
from bot.records.registry.secrets import mask

# Events of the audit log shown in the transcript.
EVENTS = ("take", "transfer", "hand_back", "close")


@dataclass(frozen=True)
class Line:
    at: dt.datetime
    who: str  # user | bot | staff | system | note | event
    text: str
    language: str | None = None
    kind: str = "text"
    staff: str | None = None
    intent: str | None = None
    topic_zh: str | None = None  # the Chinese title of the topic asked about
    delivery: str | None = None  # the outbox's state of what was sent: delivered, failed...
    delivery_note: str | None = None  # why it is not delivered (the outbox's last error)


@dataclass
class ChatView:
    identity_id: int
    channel: str
    language: str
    mode: str
    handoff: Handoff | None
    owner: str | None
    mine: bool
    linked: bool
    cards: list[str] = field(default_factory=list)  # "••••1234 active until 2027-03-01"
    documents: list[str] = field(default_factory=list)
    lines: list[Line] = field(default_factory=list)
    canned_missing: list[str] = field(default_factory=list)  # ids not in the user's language


def build(
    session: Session, *, identity_id: int, staff_id: int, answers: AnswerStore
) -> ChatView | None:
    identity = session.get(ChatIdentity, identity_id)
    if identity is None:
        return None
    current = handoffs.open_handoff(session, identity_id=identity_id)
    owner = session.get(StaffUser, current.assignee_id) if current and current.assignee_id else None
    lang = identity.language or (current.language if current else "en")
    view = ChatView(
        identity_id=identity_id,
        channel=identity.channel,
        language=lang,
        mode=identity.mode,
        handoff=current,
        owner=owner.name if owner else None,
        mine=owner is not None and owner.id == staff_id,
        linked=identity.resident_id is not None,
    )
    if identity.resident_id is not None:
        for card in records.resident_cards(session, resident_id=identity.resident_id):
            view.cards.append(f"{mask(card.number_last4)} {card.status} {card.expires_on}")
        for doc in records.resident_documents(session, resident_id=identity.resident_id):
            view.documents.append(
                f"{doc.kind} {doc.visa_type} {mask(doc.number_last4)} {doc.status} {doc.expires_on}"
            )
    names = dict(session.execute(select(StaffUser.id, StaffUser.name)).all())
    delivery: dict[int | None, str] = {}
    notes: dict[int | None, str | None] = {}
    for message_id, status, error in session.execute(
        select(Outbox.message_id, Outbox.status, Outbox.last_error).where(
            Outbox.identity_id == identity_id
        )
    ):
        delivery[message_id], notes[message_id] = status, error
    messages = session.scalars(
        select(Message)
        .join(Conversation, Conversation.id == Message.conversation_id)
        .where(Conversation.identity_id == identity_id)
        .order_by(Message.id)
    )
    for m in messages:
        if m.direction == "in":
            topic = m.intent if m.intent and m.intent.startswith("faq_") else None
            zh = answers.get(topic, "zh") if topic else None
            view.lines.append(
                Line(
                    at=aware(m.created_at),
                    who="user",
                    text=m.text,
                    language=m.language,
                    kind=m.kind,
                    intent=m.intent,
                    topic_zh=zh.title if zh is not None and zh.language == "zh" else None,
                )
            )
        else:
            view.lines.append(
                Line(
                    at=aware(m.created_at),
                    who=m.author or "bot",
                    text=m.text,
                    language=m.language,
                    staff=names.get(m.staff_id) if m.staff_id else None,
                    delivery=delivery.get(m.id, m.status),
                    delivery_note=notes.get(m.id),
                )
            )
    for n in session.scalars(select(HandoffNote).where(HandoffNote.identity_id == identity_id)):
        view.lines.append(
            Line(
                at=aware(n.created_at),
                who="note",
                text=n.text,
                staff=names.get(n.staff_id) if n.staff_id else None,
            )
        )
    for e in session.scalars(
        select(AuditEntry).where(
            AuditEntry.identity_id == identity_id, AuditEntry.action.in_(EVENTS)
        )
    ):
        detail = (e.details or {}).get("to_name") or (e.details or {}).get("outcome") or ""
        view.lines.append(
            Line(
                at=aware(e.at), who="event", text=f"{e.action} {detail}".strip(), staff=e.staff_name
            )
        )
    for h in session.scalars(select(Handoff).where(Handoff.identity_id == identity_id)):
        view.lines.append(
            Line(at=aware(h.requested_at), who="event", text=f"requested ({h.reason})")
        )
    view.lines.sort(key=lambda line: line.at)
    mine = canned.replies(lang)
    view.canned_missing = sorted(set(canned.replies("en")) - set(mine))
    return view
