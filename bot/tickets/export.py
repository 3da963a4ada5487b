"""`expatbot tickets export --since DATE`: the service's own reporting, as CSV.

One row per ticket submitted on or after the day (Yiwu time), oldest first. What the
report needs to count and time the work, not the case itself: neither the user's
description nor the other party's phone or WeChat id is written, and the chat is
named only by its channel. Every text cell that a spreadsheet would read as a formula
(it starts with = + - @, a tab or a carriage return) is prefixed with a quote.
"""

from __future__ import annotations

import csv
import datetime as dt
from collections.abc import Iterator
from typing import IO, Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, aliased

from bot.db import aware
from bot.db.models import ChatIdentity, Evidence, StaffUser, Ticket
from bot.settings import SERVICE_TZ
from bot.tickets import lifecycle
from bot.tickets.tickets import is_overdue

COLUMNS = (
    "number", "submitted_at", "kind", "status", "language", "channel", "linked",
    "party_name", "party_place", "amount", "currency", "wants", "evidence_files", "assignee",
    "respond_by", "first_response_at", "resolve_by", "resolved_at", "closed_at", "overdue",
    "duplicate_of",
)  # fmt: skip
_FORMULA = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        return aware(value).astimezone(SERVICE_TZ).isoformat(timespec="minutes")
    if isinstance(value, bool):
        return "yes" if value else "no"
    text = str(value)
    return "'" + text if text.startswith(_FORMULA) else text


def rows(
    session: Session, *, since: dt.date, now: dt.datetime | None = None
) -> Iterator[list[str]]:
    start = dt.datetime.combine(since, dt.time(0), tzinfo=SERVICE_TZ)
    files = (
        select(Evidence.ticket_id, func.count().label("n")).group_by(Evidence.ticket_id).subquery()
    )
    original = aliased(Ticket)
    query = (
        select(Ticket, ChatIdentity.channel, StaffUser.name, files.c.n, original.number)
        .outerjoin(ChatIdentity, ChatIdentity.id == Ticket.identity_id)
        .outerjoin(StaffUser, StaffUser.id == Ticket.assignee_id)
        .outerjoin(files, files.c.ticket_id == Ticket.id)
        .outerjoin(original, original.id == Ticket.duplicate_of_id)
        .where(Ticket.status != lifecycle.DRAFT, Ticket.submitted_at >= start)
        .order_by(Ticket.submitted_at, Ticket.id)
        .execution_options(yield_per=500)
    )
    for ticket, channel, assignee, count, duplicate_of in session.execute(query):
        values = (
            ticket.number, ticket.submitted_at, ticket.kind, ticket.status, ticket.language,
            channel, ticket.resident_id is not None, ticket.party_name, ticket.party_place,
            ticket.amount, ticket.currency, ticket.wants, count or 0, assignee,
            ticket.respond_by, ticket.first_response_at, ticket.resolve_by, ticket.resolved_at,
            ticket.closed_at, is_overdue(ticket, now=now), duplicate_of,
        )  # fmt: skip
        yield [_cell(v) for v in values]


def write_csv(session: Session, out: IO[str], *, since: dt.date) -> int:
    """Write the report; the number of tickets in it."""
    writer = csv.writer(out)
    writer.writerow(COLUMNS)
    count = 0
    for row in rows(session, since=since):
        writer.writerow(row)
        count += 1
    return count
