"""The staff console's ticket list: keyword-only data functions, read-only.

    ticket_page        one page of the list: filtered, oldest submission first (a queue),
                       each row with whether it is overdue and how many other open tickets
                       name the same party; the total and the overdue total in one count
    other_open_counts  for a page's rows, the other open tickets against the same party:
                       one grouped query for all of the page's parties
    overdue_clause     bot.tickets.tickets.is_overdue as SQL, for filters and flags
    version            changes whenever a ticket staff can see changes: what live pages watch

Drafts (the form a user is still filling in) are never listed. Only the columns the list
shows are read, so that a page of 50 costs the same with 10,000 tickets behind it; the
filters use the indexes of migration 0012 (status, party).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import and_, case, func, or_, select
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from bot.db import aware
from bot.db.models import StaffUser, Ticket, utcnow
from bot.i18n import SUPPORTED_LANGUAGES
from bot.tickets import lifecycle
from bot.tickets.targets import KINDS

PAGE_SIZE = 50
OPEN = "open"
ALL = "all"
# "open" (lifecycle.OPEN, the default), "all" (every ticket but drafts), or one status.
STATUS_FILTERS: tuple[str, ...] = (OPEN, ALL, *lifecycle.STATUSES)
# Whose tickets: anyone's, mine, nobody's, or a member of staff's id (as text).
ANY, ME, NOBODY = "any", "me", "nobody"
MAX_AGE_DAYS = 3650
# Overdue can only be what is still being worked on: not resolved (waiting for the user's
# confirmation), not final.
_WORKED_ON = tuple(sorted(lifecycle.OPEN - {lifecycle.RESOLVED}))
_OPEN = tuple(sorted(lifecycle.OPEN))


@dataclass(frozen=True)
class Row:
    """One line of the list: only what it shows."""

    id: int
    number: str
    kind: str | None
    party_name: str | None
    party_key: str | None
    language: str
    status: str
    assignee_id: int | None
    assignee: str | None
    submitted_at: dt.datetime
    respond_by: dt.datetime | None
    resolve_by: dt.datetime | None
    first_response_at: dt.datetime | None
    overdue: bool
    # Other open tickets against the same party (other_open_counts).
    others: int = 0


@dataclass(frozen=True)
class TicketPage:
    rows: list[Row]
    total: int  # tickets matching the filters
    overdue: int  # of which overdue
    page: int  # 1-based, within 1..pages
    pages: int
    page_size: int


def overdue_clause(now: dt.datetime) -> ColumnElement[bool]:
    """bot.tickets.tickets.is_overdue, in SQL: still worked on, and past its first
    response target without a first response, or past its resolution target."""
    return and_(
        Ticket.status.in_(_WORKED_ON),
        or_(
            and_(Ticket.first_response_at.is_(None), Ticket.respond_by < now),
            Ticket.resolve_by < now,
        ),
    )


def conditions(
    *,
    status: str = OPEN,
    kind: str | None = None,
    language: str | None = None,
    assignee: str = ANY,
    me: int | None = None,
    older_than_days: int | None = None,
    overdue_only: bool = False,
    now: dt.datetime | None = None,
) -> list[ColumnElement[bool]]:
    """The WHERE of the list. Raises ValueError for a filter value it does not know (the
    console reads the query string leniently before it gets here)."""
    now = now or utcnow()
    where: list[ColumnElement[bool]] = []
    if status == OPEN:
        where.append(Ticket.status.in_(_OPEN))
    elif status == ALL:
        where.append(Ticket.status != lifecycle.DRAFT)
    elif status in lifecycle.STATUSES:
        where.append(Ticket.status == status)
    else:
        raise ValueError(f"not a status filter: {status!r}")
    if kind is not None:
        if kind not in KINDS:
            raise ValueError(f"not a kind: {kind!r}")
        where.append(Ticket.kind == kind)
    if language is not None:
        if language not in SUPPORTED_LANGUAGES:
            raise ValueError(f"not a language: {language!r}")
        where.append(Ticket.language == language)
    if assignee == ME:
        if me is None:
            raise ValueError("'me' needs the member of staff who asks")
        where.append(Ticket.assignee_id == me)
    elif assignee == NOBODY:
        where.append(Ticket.assignee_id.is_(None))
    elif assignee != ANY:
        if not assignee.isdigit():
            raise ValueError(f"not an assignee filter: {assignee!r}")
        where.append(Ticket.assignee_id == int(assignee))
    if older_than_days is not None:
        if not 0 <= older_than_days <= MAX_AGE_DAYS:
            raise ValueError(f"age out of range: {older_than_days}")
        where.append(Ticket.submitted_at < now - dt.timedelta(days=older_than_days))
    if overdue_only:
        where.append(overdue_clause(now))
    return where


def ticket_page(
    session: Session,
    *,
    status: str = OPEN,
    kind: str | None = None,
    language: str | None = None,
    assignee: str = ANY,
    me: int | None = None,
    older_than_days: int | None = None,
    overdue_only: bool = False,
    page: int = 1,
    page_size: int = PAGE_SIZE,
    now: dt.datetime | None = None,
) -> TicketPage:
    """One page of the list, the oldest submission first (ties: the lower id). A page
    past the last is the last page. Three queries: the count (with the overdue count),
    the page's rows, the other open tickets against their parties."""
    now = now or utcnow()
    where = conditions(
        status=status, kind=kind, language=language, assignee=assignee, me=me,
        older_than_days=older_than_days, overdue_only=overdue_only, now=now,
    )  # fmt: skip
    overdue = overdue_clause(now)
    total, late = session.execute(
        select(func.count(), func.coalesce(func.sum(case((overdue, 1), else_=0)), 0))
        .select_from(Ticket)
        .where(*where)
    ).one()
    pages = max(1, -(-int(total) // page_size))
    page = min(max(1, page), pages)
    found = session.execute(
        select(
            Ticket.id,
            Ticket.number,
            Ticket.kind,
            Ticket.party_name,
            Ticket.party_key,
            Ticket.language,
            Ticket.status,
            Ticket.assignee_id,
            StaffUser.name,
            Ticket.submitted_at,
            Ticket.respond_by,
            Ticket.resolve_by,
            Ticket.first_response_at,
            case((overdue, True), else_=False).label("overdue"),
        )
        .outerjoin(StaffUser, StaffUser.id == Ticket.assignee_id)
        .where(*where)
        .order_by(Ticket.submitted_at.asc(), Ticket.id.asc())
        .offset((page - 1) * page_size)
        .limit(page_size)
    ).all()
    rows = [_row(r) for r in found]
    counts = other_open_counts(session, rows=rows)
    rows = [replace(r, others=counts.get(r.id, 0)) for r in rows]
    return TicketPage(
        rows=rows, total=int(total), overdue=int(late), page=page, pages=pages,
        page_size=page_size,
    )  # fmt: skip


def _row(r: Any) -> Row:
    def moment(value: dt.datetime | None) -> dt.datetime | None:
        return aware(value) if value is not None else None

    submitted = moment(r.submitted_at)
    assert submitted is not None  # never a draft
    return Row(
        id=r.id,
        number=r.number or "",
        kind=r.kind,
        party_name=r.party_name,
        party_key=r.party_key,
        language=r.language,
        status=r.status,
        assignee_id=r.assignee_id,
        assignee=r.name,
        submitted_at=submitted,
        respond_by=moment(r.respond_by),
        resolve_by=moment(r.resolve_by),
        first_response_at=moment(r.first_response_at),
        overdue=bool(r.overdue),
    )


def other_open_counts(session: Session, *, rows: Sequence[Row]) -> dict[int, int]:
    """Ticket id -> how many *other* open tickets name the same party, for these rows:
    one grouped query over the rows' party keys (the party index), whatever their number."""
    keys = sorted({r.party_key for r in rows if r.party_key})
    if not keys:
        return {}
    open_by_party: dict[str | None, int] = {
        key: int(n)
        for key, n in session.execute(
            select(Ticket.party_key, func.count())
            .where(Ticket.party_key.in_(keys), Ticket.status.in_(_OPEN))
            .group_by(Ticket.party_key)
        ).all()
    }
    counts = {}
    for r in rows:
        if r.party_key:
            mine = 1 if r.status in lifecycle.OPEN else 0
            counts[r.id] = max(0, open_by_party.get(r.party_key, 0) - mine)
    return counts


def version(session: Session) -> str:
    """Changes whenever a ticket staff can see changes (every change of a ticket sets its
    updated_at), appears or goes: what the live list watches."""
    newest, count = session.execute(
        select(func.max(Ticket.updated_at), func.count())
        .select_from(Ticket)
        .where(Ticket.status != lifecycle.DRAFT)
    ).one()
    return f"{newest}|{count}"
