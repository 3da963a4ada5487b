"""Dispute tickets: keyword-only data functions. Callers own the session and its
transaction, so that a change, its event, its audit entry and what the user is told of
it (an outbox row) are written together, or not at all.

    draft      the form's answers while the user fills it (one per chat identity)
    submit     draft -> submitted, once: a retried submission finds the same ticket
    own        what a chat may see: its own tickets, and its resident's once linked
    change     a status change the lifecycle allows (bot.tickets.lifecycle), by whom
    reply      a public reply of staff (the user is told); note: internal, never sent
    add        a message or evidence from the user on an open ticket

Every status change and public reply is a TicketEvent and reaches the user through the
outbox (bot.tickets.notify); everything staff do is in the audit log too.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.orm import Session

from bot.db import audit, aware
from bot.db.models import ChatIdentity, Evidence, StaffUser, Ticket, TicketEvent, utcnow
from bot.settings import SERVICE_TZ, get_settings
from bot.tickets import lifecycle, notify
from bot.tickets.lifecycle import Actor
from bot.tickets.numbers import format_number
from bot.tickets.targets import target_for

# What the form may write into a draft.
DRAFT_FIELDS = frozenset({
    "kind", "party_name", "party_place", "party_contact", "description", "happened_on",
    "amount", "currency", "wants",
})  # fmt: skip
# Staff replies and notes longer than this are refused: no chat shows more in one message.
MAX_TEXT_CHARS = 4000
# A submission retried within this time (the action server called twice for one press)
# finds the ticket it made.
RESUBMIT_WINDOW = dt.timedelta(minutes=10)

Refusal = Literal["empty", "too_long", "not_allowed", "final", "too_many", "unknown"]


def _changed(result: Any) -> int:
    """The rows an UPDATE changed (a CursorResult's rowcount, untyped in SQLAlchemy's stubs)."""
    return int(getattr(result, "rowcount", 0) or 0)


def party_key(name: str | None) -> str | None:
    """The other party's name as compared across tickets: letters and digits only, in
    one case and width ("Yiwu Star Trading Co., Ltd." = "yiwu star trading co ltd")."""
    if not name:
        return None
    plain = unicodedata.normalize("NFKC", name).casefold()
    key = re.sub(r"[\W_]+", "", plain)
    return key[:200] or None


# --- The draft ------------------------------------------------------------------------


def draft_of(session: Session, *, identity_id: int) -> Ticket | None:
    return session.scalar(
        select(Ticket)
        .where(Ticket.identity_id == identity_id, Ticket.status == lifecycle.DRAFT)
        .order_by(Ticket.id.desc())
        .limit(1)
    )


def start_draft(session: Session, *, identity: ChatIdentity, language: str) -> Ticket:
    """The chat's draft: the one it has, or a new one."""
    found = draft_of(session, identity_id=identity.id)
    if found is not None:
        found.language = language
        return found
    draft = Ticket(
        idempotency_key=uuid.uuid4().hex,
        identity_id=identity.id,
        resident_id=identity.resident_id,
        language=language,
        status=lifecycle.DRAFT,
    )
    session.add(draft)
    session.flush()
    return draft


def update_draft(session: Session, *, identity_id: int, values: dict[str, Any]) -> Ticket | None:
    unknown = set(values) - DRAFT_FIELDS
    if unknown:
        raise ValueError(f"not a field of the form: {sorted(unknown)}")
    draft = draft_of(session, identity_id=identity_id)
    if draft is None:
        return None
    for name, value in values.items():
        setattr(draft, name, value)
    if "party_name" in values:
        draft.party_key = party_key(values["party_name"])
    draft.updated_at = utcnow()
    return draft


def discard_draft(session: Session, *, identity_id: int) -> list[str]:
    """Delete the chat's draft and its evidence rows; the hashes of the files no other
    ticket holds, for the caller to delete once the transaction is committed."""
    draft = draft_of(session, identity_id=identity_id)
    if draft is None:
        return []
    hashes = list(session.scalars(select(Evidence.sha256).where(Evidence.ticket_id == draft.id)))
    session.execute(delete(Ticket).where(Ticket.id == draft.id))
    session.flush()
    return unreferenced(session, hashes=hashes)


def unreferenced(session: Session, *, hashes: Sequence[str]) -> list[str]:
    """Of these file hashes, those no evidence row holds any more."""
    if not hashes:
        return []
    held = set(session.scalars(select(Evidence.sha256).where(Evidence.sha256.in_(set(hashes)))))
    return sorted(set(hashes) - held)


@dataclass(frozen=True)
class Submitted:
    ticket: Ticket
    created: bool  # False: it had been submitted before (a retried submission)


def submit(
    session: Session, *, identity: ChatIdentity, now: dt.datetime | None = None
) -> Submitted | None:
    """Submit the chat's draft, once. A retried submission (no draft left, a ticket of
    this chat submitted moments ago) gets that ticket; None when there is nothing."""
    now = now or utcnow()
    draft = draft_of(session, identity_id=identity.id)
    if draft is None:
        recent = session.scalar(
            select(Ticket)
            .where(
                Ticket.identity_id == identity.id,
                Ticket.submitted_at >= now - RESUBMIT_WINDOW,
            )
            .order_by(Ticket.id.desc())
            .limit(1)
        )
        return Submitted(recent, created=False) if recent is not None else None
    # Compare-and-set on the status: of two submissions at once, one wins.
    target = target_for(draft.kind)
    won = _changed(
        session.execute(
            update(Ticket)
            .where(Ticket.id == draft.id, Ticket.status == lifecycle.DRAFT)
            .values(
                status=lifecycle.SUBMITTED,
                number=format_number(year=now.astimezone(SERVICE_TZ).year, ticket_id=draft.id),
                submitted_at=now,
                updated_at=now,
                resident_id=draft.resident_id or identity.resident_id,
                respond_by=now + target.first_response,
                resolve_by=now + target.resolution,
            )
            .execution_options(synchronize_session=False)
        )
    )
    session.refresh(draft)
    if not won:
        return Submitted(draft, created=False)
    _event(session, draft, kind="status", actor="user", from_status="draft", to="submitted")
    audit.record(
        session,
        action="ticket_submitted",
        staff_name="",
        identity_id=identity.id,
        details={"ticket": draft.number},
    )
    return Submitted(draft, created=True)


def adopt(session: Session, *, identity: ChatIdentity) -> int:
    """A chat that just proved who it is: its tickets belong to that resident too."""
    if identity.resident_id is None:
        return 0
    return _changed(
        session.execute(
            update(Ticket)
            .where(Ticket.identity_id == identity.id, Ticket.resident_id.is_(None))
            .values(resident_id=identity.resident_id)
        )
    )


# --- What a chat may see ----------------------------------------------------------------


def _own(identity: ChatIdentity) -> Any:
    mine = [Ticket.identity_id == identity.id]
    if identity.resident_id is not None:
        mine.append(Ticket.resident_id == identity.resident_id)
    return or_(*mine)


def own_tickets(session: Session, *, identity: ChatIdentity, limit: int = 20) -> list[Ticket]:
    """The chat's own tickets (and its resident's), newest change first; never a draft."""
    return list(
        session.scalars(
            select(Ticket)
            .where(_own(identity), Ticket.status != lifecycle.DRAFT)
            .order_by(Ticket.updated_at.desc(), Ticket.id.desc())
            .limit(limit)
        )
    )


def own_ticket(session: Session, *, identity: ChatIdentity, number: str) -> Ticket | None:
    """The ticket of this number if it is the chat's own; None alike when it is someone
    else's or does not exist, so that the answer tells nothing of other people's."""
    return session.scalar(
        select(Ticket).where(
            Ticket.number == number, _own(identity), Ticket.status != lifecycle.DRAFT
        )
    )


def owns(session: Session, *, identity: ChatIdentity, ticket: Ticket) -> bool:
    """Whether the chat may see and add to this ticket (the rule of ``own_tickets``)."""
    if ticket.status == lifecycle.DRAFT:
        return ticket.identity_id == identity.id
    if ticket.identity_id == identity.id:
        return True
    return identity.resident_id is not None and ticket.resident_id == identity.resident_id


def public_events(session: Session, *, ticket_id: int, limit: int = 5) -> list[TicketEvent]:
    """What the user reads of a ticket's history: status changes and public replies,
    newest last."""
    rows = session.scalars(
        select(TicketEvent)
        .where(TicketEvent.ticket_id == ticket_id, TicketEvent.public.is_(True))
        .order_by(TicketEvent.id.desc())
        .limit(limit)
    )
    return list(reversed(list(rows)))


# --- Changes --------------------------------------------------------------------------


def _event(
    session: Session,
    ticket: Ticket,
    *,
    kind: str,
    actor: Actor,
    staff: StaffUser | None = None,
    from_status: str | None = None,
    to: str | None = None,
    text: str | None = None,
    public: bool = True,
    now: dt.datetime | None = None,
) -> TicketEvent:
    now = now or utcnow()
    event = TicketEvent(
        ticket_id=ticket.id,
        at=now,
        kind=kind,
        actor=actor,
        staff_id=staff.id if staff else None,
        from_status=from_status,
        to_status=to,
        text=text,
        public=public,
    )
    session.add(event)
    ticket.updated_at = now
    session.flush()
    return event


def change_status(
    session: Session,
    *,
    ticket: Ticket,
    to: str,
    actor: Actor,
    staff: StaffUser | None = None,
    reason: str | None = None,
    duplicate_of: Ticket | None = None,
    now: dt.datetime | None = None,
    tell: bool = True,
) -> TicketEvent:
    """Change a ticket's status as the lifecycle allows (raises TransitionRefused),
    compare-and-set on the status read, with its event, audit entry and notice (unless
    ``tell`` is False: the user made the change, and is answered in the request)."""
    now = now or utcnow()
    current = ticket.status
    lifecycle.check(current, to, actor)
    if to == lifecycle.REJECTED and not (reason or "").strip():
        raise ValueError("a rejection needs a reason: the user is shown it")
    if to == lifecycle.DUPLICATE and (
        duplicate_of is None
        or duplicate_of.id == ticket.id
        or duplicate_of.status == lifecycle.DRAFT
    ):
        raise ValueError("a duplicate names its original, another submitted ticket")
    values: dict[str, Any] = {"status": to, "updated_at": now}
    if to == lifecycle.RESOLVED:
        values["resolved_at"] = now
    if to in lifecycle.FINAL:
        values["closed_at"] = now
    if to == lifecycle.IN_PROGRESS and current == lifecycle.RESOLVED:
        values["resolved_at"] = None
    if to == lifecycle.REJECTED:
        values["reason"] = (reason or "").strip()[:MAX_TEXT_CHARS]
    if to == lifecycle.DUPLICATE:
        assert duplicate_of is not None
        values["duplicate_of_id"] = duplicate_of.id
    if actor == "staff" and ticket.first_response_at is None:
        values["first_response_at"] = now
    changed = _changed(
        session.execute(
            update(Ticket)
            .where(Ticket.id == ticket.id, Ticket.status == current)
            .values(**values)
            .execution_options(synchronize_session=False)
        )
    )
    session.refresh(ticket)
    if not changed:
        # Someone changed it meanwhile: judged again against what it is now.
        raise lifecycle.TransitionRefused(ticket.status, to, actor)
    event = _event(
        session, ticket, kind="status", actor=actor, staff=staff, from_status=current, to=to,
        text=values.get("reason"), now=now,
    )  # fmt: skip
    audit.record(
        session,
        action="ticket_status",
        staff=staff,
        staff_name="" if staff else actor,
        identity_id=ticket.identity_id,
        details={"ticket": ticket.number, "from": current, "to": to},
        now=now,
    )
    if tell:
        notify.status_changed(session, ticket=ticket, event=event, duplicate_of=duplicate_of)
    return event


def _text(text: str) -> str | Refusal:
    body = text.strip()
    if not body:
        return "empty"
    if len(body) > MAX_TEXT_CHARS:
        return "too_long"
    return body


def reply(
    session: Session, *, ticket: Ticket, staff: StaffUser, text: str
) -> TicketEvent | Refusal:
    """A public reply of staff: the user is told in their chat and language."""
    body = _text(text)
    if body in ("empty", "too_long"):
        return body  # type: ignore[return-value]
    if ticket.status in lifecycle.FINAL or ticket.status == lifecycle.DRAFT:
        return "final"
    now = utcnow()
    if ticket.first_response_at is None:
        ticket.first_response_at = now
    event = _event(session, ticket, kind="reply", actor="staff", staff=staff, text=body, now=now)
    audit.record(
        session,
        action="ticket_reply",
        staff=staff,
        identity_id=ticket.identity_id,
        details={"ticket": ticket.number, "chars": len(body)},
    )
    notify.staff_replied(session, ticket=ticket, event=event)
    return event


def note(session: Session, *, ticket: Ticket, staff: StaffUser, text: str) -> TicketEvent | Refusal:
    """An internal note: for staff only, never sent."""
    body = _text(text)
    if body in ("empty", "too_long"):
        return body  # type: ignore[return-value]
    event = _event(
        session, ticket, kind="note", actor="staff", staff=staff, text=body, public=False
    )
    audit.record(
        session,
        action="ticket_note",
        staff=staff,
        identity_id=ticket.identity_id,
        details={"ticket": ticket.number},
    )
    return event


def assign(session: Session, *, ticket: Ticket, to: StaffUser | None, by: StaffUser) -> TicketEvent:
    ticket.assignee_id = to.id if to else None
    event = _event(
        session, ticket, kind="assign", actor="staff", staff=by,
        text=to.name if to else None, public=False,
    )  # fmt: skip
    audit.record(
        session,
        action="ticket_assign",
        staff=by,
        identity_id=ticket.identity_id,
        details={"ticket": ticket.number, "to": to.name if to else None},
    )
    return event


def user_message(
    session: Session, *, ticket: Ticket, text: str, now: dt.datetime | None = None
) -> TicketEvent | Refusal:
    """A message of the user on their open ticket; one waiting for them goes back to work."""
    if ticket.status not in lifecycle.ACCEPTS_USER_INPUT:
        return "final"
    body = text.strip()
    if not body:
        return "empty"
    event = _event(session, ticket, kind="user_message", actor="user", text=body, now=now)
    if ticket.status == lifecycle.WAITING_USER:
        change_status(session, ticket=ticket, to=lifecycle.IN_PROGRESS, actor="system", now=now)
    return event


def evidence_count(session: Session, *, ticket_id: int) -> int:
    return int(
        session.scalar(
            select(func.count()).select_from(Evidence).where(Evidence.ticket_id == ticket_id)
        )
        or 0
    )


@dataclass(frozen=True)
class Attached:
    evidence: Evidence
    first_of_album: bool  # an album is acknowledged once


def add_evidence(
    session: Session,
    *,
    ticket: Ticket,
    sha256: str,
    mime: str,
    size: int,
    name: str,
    message_id: int | None,
    album: str | None,
) -> Attached | Refusal:
    """Attach a stored file to a ticket (or its draft), at most EVIDENCE_MAX_FILES each;
    the same inbound message twice is one file."""
    if message_id is not None:
        known = session.scalar(
            select(Evidence).where(
                Evidence.ticket_id == ticket.id, Evidence.message_id == message_id
            )
        )
        if known is not None:
            return Attached(known, first_of_album=False)
    if ticket.status not in lifecycle.ACCEPTS_USER_INPUT | {lifecycle.DRAFT}:
        return "final"
    if evidence_count(session, ticket_id=ticket.id) >= get_settings().evidence_max_files:
        return "too_many"
    first = album is None or not session.scalar(
        select(func.count())
        .select_from(Evidence)
        .where(Evidence.ticket_id == ticket.id, Evidence.album == album)
    )
    row = Evidence(
        ticket_id=ticket.id,
        message_id=message_id,
        sha256=sha256,
        mime=mime,
        size=size,
        name=name[:120],
        album=album[:64] if album else None,
    )
    session.add(row)
    session.flush()
    if ticket.status != lifecycle.DRAFT:
        _event(session, ticket, kind="evidence", actor="user", text=row.name, public=False)
    return Attached(row, first_of_album=first)


def evidence_of(session: Session, *, ticket_id: int) -> list[Evidence]:
    return list(
        session.scalars(
            select(Evidence).where(Evidence.ticket_id == ticket_id).order_by(Evidence.id)
        )
    )


def others_against_same_party(session: Session, *, ticket: Ticket) -> list[Ticket]:
    """Other open tickets against the same party: for staff, never for the user."""
    if not ticket.party_key:
        return []
    return list(
        session.scalars(
            select(Ticket)
            .where(
                Ticket.party_key == ticket.party_key,
                Ticket.id != ticket.id,
                Ticket.status.in_(lifecycle.OPEN),
            )
            .order_by(Ticket.id)
        )
    )


@dataclass(frozen=True)
class Forgotten:
    files: list[str]  # hashes no ticket holds any more: to delete once committed
    kept: list[str]  # numbers of the tickets kept as the center's case files


def forget(session: Session, *, identity: ChatIdentity) -> Forgotten:
    """ "Forget me" for tickets (docs/own-records.md says what and why): the chat's draft,
    and tickets it withdrew before any member of staff acted on them, are deleted with
    their evidence; every other ticket is a case file of the service center (a dispute
    has another party, and the center's mediation must be on record) and is kept whole,
    its evidence too, still reaching this chat when it changes."""
    own = list(session.scalars(select(Ticket).where(Ticket.identity_id == identity.id)))
    worked = set(
        session.scalars(
            select(TicketEvent.ticket_id).where(
                TicketEvent.ticket_id.in_([t.id for t in own]), TicketEvent.actor == "staff"
            )
        )
    )
    gone = [
        t.id
        for t in own
        if t.status == lifecycle.DRAFT or (t.status == lifecycle.WITHDRAWN and t.id not in worked)
    ]
    hashes = list(session.scalars(select(Evidence.sha256).where(Evidence.ticket_id.in_(gone))))
    if gone:
        session.execute(delete(Ticket).where(Ticket.id.in_(gone)))
        session.flush()
    kept = sorted(str(t.number) for t in own if t.id not in gone)
    return Forgotten(files=unreferenced(session, hashes=hashes), kept=kept)


def close_unconfirmed(
    session: Session, *, now: dt.datetime | None = None, days: int | None = None
) -> list[str]:
    """Close the tickets resolved ``days`` ago that the user neither confirmed nor
    reopened (TICKET_AUTOCLOSE_DAYS); their numbers."""
    now = now or utcnow()
    days = get_settings().ticket_autoclose_days if days is None else days
    due = list(
        session.scalars(
            select(Ticket).where(
                Ticket.status == lifecycle.RESOLVED,
                Ticket.resolved_at <= now - dt.timedelta(days=days),
            )
        )
    )
    closed = []
    for ticket in due:
        try:
            change_status(session, ticket=ticket, to=lifecycle.CLOSED, actor="system", now=now)
        except lifecycle.TransitionRefused:
            continue  # the user answered meanwhile
        closed.append(str(ticket.number))
    return closed


def is_overdue(ticket: Ticket, *, now: dt.datetime | None = None) -> bool:
    """Past its first-response target without a response, or past its resolution target
    while still open."""
    now = now or utcnow()
    if ticket.status not in lifecycle.OPEN or ticket.status == lifecycle.RESOLVED:
        return False
    if ticket.first_response_at is None and ticket.respond_by and aware(ticket.respond_by) < now:
        return True
    return bool(ticket.resolve_by and aware(ticket.resolve_by) < now)
