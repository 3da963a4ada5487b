"""Reminders before a visa or residence permit expires (30, 14, 7 and 1 days before) and
when a merchant card expires, sent to linked users in their language.

Exactly once: a reminder is *claimed* by inserting its row (unique per document and
threshold) before anything is sent, so two jobs running at once, or one job run twice,
cannot both send it. A missed day is caught up: the most urgent threshold not yet
claimed is sent. A document already renewed (the resident holds a newer one of the
same kind) gets no reminder.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from babel.dates import format_date
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bot import texts
from bot.db import insert_unless_present, transaction
from bot.db.models import ChatIdentity, MerchantCard, Reminder, TravelDocument, utcnow
from bot.i18n import DEFAULT_LANGUAGE, days_away, gettext

DOCUMENT_THRESHOLDS = (30, 14, 7, 1)
CARD_THRESHOLDS = (0,)
# Telegram allows about 30 messages a second overall; stay under it.
MESSAGES_PER_SECOND = 25

log = logging.getLogger(__name__)


class Blocked(Exception):
    """The platform says this user blocked the bot."""


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


def claim(session: Session, due: Due) -> bool:
    """Insert the reminder's row; False when another job has already claimed it."""
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
    inserted = session.execute(stmt.returning(Reminder.id)).scalar_one_or_none()
    return inserted is not None


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


Send = Callable[[ChatIdentity, str], Awaitable[None]]


@dataclass
class RunSummary:
    due: int = 0
    sent: int = 0
    already_claimed: int = 0
    blocked: int = 0
    lines: list[str] = field(default_factory=list)


async def run_reminders(
    sessions: sessionmaker[Session], *, today: dt.date, send: Send | None
) -> RunSummary:
    """Claim and send today's reminders; with ``send=None`` only list them (dry run)."""
    summary = RunSummary()
    with sessions() as session:
        due = due_reminders(session, today=today)
    summary.due = len(due)
    for item in due:
        with sessions() as session:
            chats = list(
                session.scalars(
                    select(ChatIdentity).where(
                        ChatIdentity.resident_id == item.resident_id,
                        ChatIdentity.reminders_enabled.is_(True),
                        ChatIdentity.blocked_at.is_(None),
                    )
                )
            )
        for chat in chats:
            lang = chat.language or DEFAULT_LANGUAGE
            summary.lines.append(
                f"{chat.channel}:{chat.public_id[:8]} {item.kind} ••••{item.last4} "
                f"expires {item.expires_on} ({item.threshold}-day reminder, {lang})"
            )
        if send is None:
            continue
        with transaction(sessions) as session:
            if not claim(session, item):
                summary.already_claimed += 1
                continue
        status = "no_chat"
        for chat in chats:
            try:
                await send(chat, reminder_text(item, chat.language or DEFAULT_LANGUAGE))
                status = "sent"
                summary.sent += 1
            except Blocked:
                summary.blocked += 1
                with transaction(sessions) as session:
                    blocked = session.get(ChatIdentity, chat.id)
                    assert blocked is not None
                    blocked.blocked_at = utcnow()
                status = "blocked" if status != "sent" else status
            await asyncio.sleep(1 / MESSAGES_PER_SECOND)
        with transaction(sessions) as session:
            row = session.scalar(
                select(Reminder).where(
                    Reminder.document == item.document,
                    Reminder.document_id == item.document_id,
                    Reminder.threshold_days == item.threshold,
                )
            )
            assert row is not None
            row.status, row.sent_at = status, utcnow()
    return summary
