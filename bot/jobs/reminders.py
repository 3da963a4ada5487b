"""Reminders before a visa or residence permit expires (30, 14, 7 and 1 days before) and
when a merchant card expires, sent to linked users in their language.

Exactly once: a reminder is *claimed* by inserting its row (unique per document and
threshold), and in the same transaction put in the outbox once per linked chat (the
outbox's idempotency key is the reminder and the chat), so two jobs running at once,
or one job run twice, cannot both send it; the outbox delivers it on every channel
(bot.delivery). A missed day is caught up: the most urgent threshold not yet claimed is
sent. A document already renewed (the resident holds a newer one of the same kind) gets
no reminder.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field

from babel.dates import format_date
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bot import texts
from bot.db import conversations, in_transaction, insert_unless_present
from bot.db.models import ChatIdentity, MerchantCard, Reminder, TravelDocument, utcnow
from bot.delivery import outbox
from bot.i18n import DEFAULT_LANGUAGE, days_away, gettext

DOCUMENT_THRESHOLDS = (30, 14, 7, 1)
CARD_THRESHOLDS = (0,)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Due:
    resident_id: int
    document: str  # merchant_card | travel_document
    document_id: int
    kind: str  # merchant_card | visa | residence_permit
    last4: str
    expires_on: dt.date
    threshold: int
    days_left: int


def _threshold(days_left: int, thresholds: tuple[int, ...]) -> int | None:
    """The most urgent threshold already reached: 12 days left -> the 14-day reminder."""
    reached = [t for t in thresholds if days_left <= t]
    if not reached or days_left < min(thresholds):
        return None
    return min(reached)


def due_reminders(session: Session, *, today: dt.date) -> list[Due]:
    """Reminders due today for residents linked to at least one chat, not yet claimed."""
    linked = set(
        session.scalars(
            select(ChatIdentity.resident_id).where(ChatIdentity.resident_id.is_not(None))
        )
    )
    claimed = {
        (r.document, r.document_id, r.threshold_days)
        for r in session.scalars(select(Reminder).where(Reminder.resident_id.in_(linked)))
    }
    found: list[Due] = []
    docs = session.scalars(select(TravelDocument).where(TravelDocument.resident_id.in_(linked)))
    by_resident: dict[tuple[int, str], list[TravelDocument]] = {}
    all_docs = list(docs)
    for doc in all_docs:
        by_resident.setdefault((doc.resident_id, doc.kind), []).append(doc)
    for doc in all_docs:
        renewed = any(
            other.expires_on > doc.expires_on and other.status == "valid"
            for other in by_resident[(doc.resident_id, doc.kind)]
        )
        threshold = _threshold((doc.expires_on - today).days, DOCUMENT_THRESHOLDS)
        if doc.status != "valid" or renewed or threshold is None:
            continue
        if ("travel_document", doc.id, threshold) not in claimed:
            found.append(
                Due(doc.resident_id, "travel_document", doc.id, doc.kind, doc.number_last4,
                    doc.expires_on, threshold, (doc.expires_on - today).days)
            )  # fmt: skip
    cards = list(session.scalars(select(MerchantCard).where(MerchantCard.resident_id.in_(linked))))
    for card in cards:
        renewed = any(
            c.resident_id == card.resident_id
            and c.expires_on > card.expires_on
            and c.status == "active"
            for c in cards
        )
        threshold = _threshold((card.expires_on - today).days, CARD_THRESHOLDS)
        if card.status != "active" or renewed or threshold is None:
            continue
        if ("merchant_card", card.id, threshold) not in claimed:
            found.append(
                Due(card.resident_id, "merchant_card", card.id, "merchant_card", card.number_last4,
                    card.expires_on, threshold, (card.expires_on - today).days)
            )  # fmt: skip
    return found


def claim(session: Session, due: Due) -> int | None:
    """Insert the reminder's row: its id, or None when another job has already claimed it."""
    values = {
        "resident_id": due.resident_id,
        "document": due.document,
        "document_id": due.document_id,
        "threshold_days": due.threshold,
        "expires_on": due.expires_on,
        "status": "claimed",
        "claimed_at": utcnow(),
    }
    stmt = insert_unless_present(session, Reminder, values)
    # RETURNING tells for sure whether this insert won (rowcount is not reliable here).
    inserted: int | None = session.execute(stmt.returning(Reminder.id)).scalar_one_or_none()
    return inserted


def reminder_text(due: Due, lang: str) -> str:
    date = format_date(due.expires_on, format="long", locale=lang)
    if due.kind == "merchant_card":
        return gettext(lang, texts.REMINDER_CARD, last4=due.last4, date=date)
    document = gettext(
        lang, texts.DOCUMENT_VISA if due.kind == "visa" else texts.DOCUMENT_RESIDENCE_PERMIT
    )
    return gettext(
        lang,
        texts.REMINDER_DOCUMENT,
        document=document,
        last4=due.last4,
        date=date,
        when=days_away(lang, due.days_left),
    )


@dataclass
class RunSummary:
    due: int = 0
    queued: int = 0  # messages put in the outbox, one per reminder and chat
    already_claimed: int = 0
    no_chat: int = 0
    lines: list[str] = field(default_factory=list)


def _chats(session: Session, resident_id: int) -> list[ChatIdentity]:
    return list(
        session.scalars(
            select(ChatIdentity)
            .where(
                ChatIdentity.resident_id == resident_id,
                ChatIdentity.reminders_enabled.is_(True),
                ChatIdentity.blocked_at.is_(None),
            )
            .order_by(ChatIdentity.id)
        )
    )


def claim_and_enqueue(session: Session, item: Due) -> int | None:
    """Claim one reminder and put it in the outbox for every chat of its resident, in one
    transaction: how many messages were queued, or None if it was claimed already."""
    reminder_id = claim(session, item)
    if reminder_id is None:
        return None
    queued = 0
    for chat in _chats(session, item.resident_id):
        lang = chat.language or DEFAULT_LANGUAGE
        conv = conversations.current_conversation(session, identity=chat)
        added = outbox.to_chat(
            session,
            key=f"reminder:{reminder_id}:{chat.id}",
            identity=chat,
            kind="reminder",
            text=reminder_text(item, lang),
            language=lang,
            conversation_id=conv.id,
        )
        queued += added is not None
    row = session.get(Reminder, reminder_id)
    assert row is not None
    row.status, row.sent_at = ("queued" if queued else "no_chat"), utcnow()
    return queued


async def run_reminders(
    sessions: sessionmaker[Session], *, today: dt.date, dry_run: bool = False
) -> RunSummary:
    """Claim today's reminders and queue them; with ``dry_run`` only list them."""
    summary = RunSummary()
    due = await in_transaction(sessions, lambda s: due_reminders(s, today=today))
    summary.due = len(due)
    for item in due:

        def chats_of(session: Session, resident_id: int = item.resident_id) -> list[ChatIdentity]:
            return _chats(session, resident_id)

        def claim_it(session: Session, due_item: Due = item) -> int | None:
            return claim_and_enqueue(session, due_item)

        for chat in await in_transaction(sessions, chats_of):
            lang = chat.language or DEFAULT_LANGUAGE
            summary.lines.append(
                f"{chat.channel}:{chat.public_id[:8]} {item.kind} ••••{item.last4} "
                f"expires {item.expires_on} ({item.threshold}-day reminder, {lang})"
            )
        if dry_run:
            continue
        queued = await in_transaction(sessions, claim_it)
        if queued is None:
            summary.already_claimed += 1
        elif queued == 0:
            summary.no_chat += 1
        else:
            summary.queued += queued
    return summary
