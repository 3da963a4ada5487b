"""The audit log: who did what, when, to which chat. Append-only: there is no function
here to change or delete an entry, and the database refuses both (migration 0011's
triggers). It never holds message text or numbers typed by users."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.db.models import AuditEntry, StaffUser, utcnow

ACTIONS = frozenset({
    "login", "login_failed", "login_locked", "logout", "take", "reply", "note", "transfer",
    "hand_back", "close", "account_added", "account_disabled",
    "ticket_submitted", "ticket_status", "ticket_reply", "ticket_note", "ticket_assign",
    "evidence_viewed",
})  # fmt: skip


def record(
    session: Session,
    *,
    action: str,
    staff: StaffUser | None = None,
    staff_name: str | None = None,
    identity_id: int | None = None,
    handoff_id: int | None = None,
    details: dict[str, Any] | None = None,
    now: dt.datetime | None = None,
) -> AuditEntry:
    if action not in ACTIONS:
        raise ValueError(f"unknown audit action: {action!r}")
    entry = AuditEntry(
        at=now or utcnow(),
        staff_id=staff.id if staff else None,
        staff_name=(staff.name if staff else staff_name or "")[:64],
        action=action,
        identity_id=identity_id,
        handoff_id=handoff_id,
        details=details,
    )
    session.add(entry)
    session.flush()
    return entry


def entries(
    session: Session, *, limit: int = 200, identity_id: int | None = None
) -> list[AuditEntry]:
    """The newest entries first (of one chat, with ``identity_id``)."""
    query = select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit)
    if identity_id is not None:
        query = query.where(AuditEntry.identity_id == identity_id)
    return list(session.scalars(query))
