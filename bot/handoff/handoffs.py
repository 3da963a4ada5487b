"""A handoff from the request for a person to its end: keyword-only data functions.

The lifecycle, and the chat's mode (bot.handoff.modes) with it, in one transaction each:

    request   bot -> queued       the user asked (intent, button); the handoff is queued
    take      queued -> human     a member of staff takes it: one owner, compare-and-set
    transfer  human -> human      the owner (or a supervisor) gives it to a colleague
    hand_back human/queued -> bot staff end it (with an outcome); the user may rate it
    user_ends human/queued -> bot the user sends /bot

Everything staff send goes through the outbox (bot.delivery), in the user's channel, with
a copy in the transcript; every step staff take goes into the audit log. Callers own
the session and its transaction.
"""

from __future__ import annotations

import datetime as dt
import statistics
import uuid
from dataclasses import dataclass
from typing import Literal

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from bot import protocol, texts
from bot.db import audit, aware, conversations
from bot.db.models import (
    ChatIdentity,
    Handoff,
    HandoffNote,
    Message,
    Outbox,
    StaffUser,
    utcnow,
)
from bot.delivery import outbox
from bot.handoff import modes
from bot.i18n import DEFAULT_LANGUAGE, gettext

REASONS = frozenset(
    {"request_human", "button", "not_helpful", "fallbacks", "lockout", "unavailable"}
)
OUTCOMES = ("resolved", "referred", "no_reply", "handed_back")
# Staff replies longer than this are refused: no chat platform shows more in one message.
MAX_REPLY_CHARS = 4000
OPEN = ("queued", "active")


def open_handoff(session: Session, *, identity_id: int) -> Handoff | None:
    return session.scalar(
        select(Handoff)
        .where(Handoff.identity_id == identity_id, Handoff.status.in_(OPEN))
        .order_by(Handoff.id.desc())
        .limit(1)
    )


def request(
    session: Session, *, identity: ChatIdentity, reason: str, language: str
) -> Handoff | None:
    """Queue the chat for a person: None when it is not the bot's to give (a person has
    it already, or is about to)."""
    assert reason in REASONS, reason
    if not modes.change_mode(
        session, identity_id=identity.id, expected=modes.BOT, new=modes.QUEUED
    ):
        return None
    now = utcnow()
    handoff = Handoff(
        identity_id=identity.id,
        status="queued",
        reason=reason,
        language=language,
        requested_at=now,
        updated_at=now,
    )
    session.add(handoff)
    session.flush()
    return handoff


def position(session: Session, *, handoff: Handoff) -> int:
    """1 for the next chat a member of staff will take."""
    ahead = session.scalar(
        select(func.count())
        .select_from(Handoff)
        .where(
            Handoff.status == "queued",
            Handoff.requested_at <= handoff.requested_at,
            Handoff.id < handoff.id,
        )
    )
    return int(ahead or 0) + 1


def wait_minutes(session: Session, *, position: int, default_per_chat: float) -> int:
    """About how long the chat at ``position`` waits: the median time staff took to take
    each of the last 20 chats, times the position (``default_per_chat`` minutes a chat
    before there is any history)."""
    rows = session.execute(
        select(Handoff.requested_at, Handoff.taken_at)
        .where(Handoff.taken_at.is_not(None))
        .order_by(Handoff.id.desc())
        .limit(20)
    ).all()
    waits = [(aware(taken) - aware(asked)).total_seconds() / 60 for asked, taken in rows if taken]
    per_chat = statistics.median(waits) if waits else default_per_chat
    return max(1, round(per_chat * position))


Taken = Literal["taken", "someone_else", "closed"]


@dataclass(frozen=True)
class TakeResult:
    result: Taken
    owner: str | None = None  # who has it, when it is someone else


def take(session: Session, *, handoff_id: int, staff: StaffUser) -> TakeResult:
    """Take a queued chat (one owner: of two at once, one wins); a supervisor may also
    take one that a colleague has."""
    now = utcnow()
    won = session.execute(
        update(Handoff)
        .where(Handoff.id == handoff_id, Handoff.status == "queued")
        .values(status="active", assignee_id=staff.id, taken_at=now, updated_at=now)
        .returning(Handoff.identity_id)
    ).scalar_one_or_none()
    # Read again: the session may hold the handoff as it was before (the caller found it
    # queued), and the UPDATE's in-session synchronisation applies its values to that
    # stale copy even when the database matched no row (a colleague took it first).
    handoff = session.get(Handoff, handoff_id, populate_existing=True)
    if handoff is None or handoff.status == "closed":
        return TakeResult("closed")
    if won is None:
        owner = session.get(StaffUser, handoff.assignee_id) if handoff.assignee_id else None
        if owner is not None and owner.id == staff.id:
            return TakeResult("taken")
        if staff.role == "supervisor" and owner is not None:
            return _reassign(session, handoff, staff, by=staff, now=now)
        return TakeResult("someone_else", owner.name if owner else None)
    modes.change_mode(session, identity_id=won, expected=modes.QUEUED, new=modes.HUMAN)
    audit.record(session, action="take", staff=staff, identity_id=won, handoff_id=handoff_id)
    return TakeResult("taken")


def _reassign(
    session: Session, handoff: Handoff, to: StaffUser, *, by: StaffUser, now: dt.datetime
) -> TakeResult:
    previous = handoff.assignee_id
    moved = session.execute(
        update(Handoff)
        .where(
            Handoff.id == handoff.id,
            Handoff.status == "active",
            Handoff.assignee_id == previous,
        )
        .values(assignee_id=to.id, updated_at=now)
        .returning(Handoff.id)
    ).scalar_one_or_none()
    if moved is None:
        return TakeResult("someone_else")
    audit.record(
        session,
        action="transfer",
        staff=by,
        identity_id=handoff.identity_id,
        handoff_id=handoff.id,
        details={"from": previous, "to": to.id, "to_name": to.name},
    )
    return TakeResult("taken")


Refusal = Literal["not_yours", "closed", "no_such_colleague", "empty", "too_long"]


def _owned(session: Session, handoff_id: int, staff: StaffUser) -> Handoff | Refusal:
    handoff = session.get(Handoff, handoff_id)
    if handoff is None or handoff.status == "closed":
        return "closed"
    if handoff.status != "active" or handoff.assignee_id != staff.id:
        return "not_yours"
    return handoff


def transfer(
    session: Session, *, handoff_id: int, staff: StaffUser, to_name: str
) -> Refusal | None:
    """Give the chat to a colleague (by name); None when done."""
    colleague = session.scalar(
        select(StaffUser).where(
            StaffUser.name == to_name,
            StaffUser.active.is_(True),
            StaffUser.role.in_(("agent", "supervisor")),
        )
    )
    if colleague is None:
        return "no_such_colleague"
    handoff = _owned(session, handoff_id, staff)
    if isinstance(handoff, str):
        if handoff == "not_yours" and staff.role == "supervisor":
            found = session.get(Handoff, handoff_id)
            if found is not None and found.status == "active":
                result = _reassign(session, found, colleague, by=staff, now=utcnow())
                return None if result.result == "taken" else "not_yours"
        return handoff
    # Compare-and-set on the owner: a supervisor who took the chat over a moment ago wins.
    result = _reassign(session, handoff, colleague, by=staff, now=utcnow())
    return None if result.result == "taken" else "not_yours"


@dataclass(frozen=True)
class Sent:
    """A staff reply put in the outbox: its row, whose state the console shows."""

    outbox_id: int | None


def reply(
    session: Session, *, handoff_id: int, staff: StaffUser, text: str, key: str | None = None
) -> Sent | Refusal:
    """Send the user a reply in their own chat (through the outbox). ``key`` makes a
    form sent twice one reply."""
    body = text.strip()
    if not body:
        return "empty"
    if len(body) > MAX_REPLY_CHARS:
        return "too_long"
    handoff = _owned(session, handoff_id, staff)
    if isinstance(handoff, str):
        return handoff
    identity = session.get(ChatIdentity, handoff.identity_id)
    assert identity is not None
    conv = conversations.current_conversation(session, identity=identity)
    row = outbox.to_chat(
        session,
        key=f"staff:{key or uuid.uuid4().hex}",
        identity=identity,
        kind="staff_reply",
        text=body,
        language=identity.language or handoff.language,
        conversation_id=conv.id,
        author="staff",
        staff_id=staff.id,
    )
    if row is not None:
        handoff.updated_at = utcnow()
        audit.record(
            session,
            action="reply",
            staff=staff,
            identity_id=identity.id,
            handoff_id=handoff.id,
            details={"outbox_id": row, "chars": len(body)},
        )
    return Sent(row)


def note(
    session: Session, *, identity_id: int, staff: StaffUser, text: str
) -> HandoffNote | Refusal:
    """An internal note on the chat: for staff only, never sent."""
    body = text.strip()
    if not body:
        return "empty"
    if len(body) > MAX_REPLY_CHARS:
        return "too_long"
    current = open_handoff(session, identity_id=identity_id)
    written = HandoffNote(
        identity_id=identity_id,
        handoff_id=current.id if current else None,
        staff_id=staff.id,
        text=body,
    )
    session.add(written)
    session.flush()
    audit.record(
        session,
        action="note",
        staff=staff,
        identity_id=identity_id,
        handoff_id=current.id if current else None,
    )
    return written


def rating_buttons(handoff_id: int) -> list[dict[str, str]]:
    return [
        protocol.button("★" * n, f"{protocol.RATE_PAYLOAD}{handoff_id} {n}")
        for n in (5, 4, 3, 2, 1)
    ]


def hand_back(
    session: Session, *, handoff_id: int, staff: StaffUser, outcome: str = "handed_back"
) -> Refusal | None:
    """End the conversation with a person: the bot answers again from the next message,
    and the user is told so and may rate the help."""
    if outcome not in OUTCOMES:
        raise ValueError(f"unknown outcome: {outcome!r}")
    handoff = session.get(Handoff, handoff_id)
    if handoff is None or handoff.status == "closed":
        return "closed"
    mine = handoff.assignee_id == staff.id
    if not mine and staff.role != "supervisor" and handoff.status == "active":
        return "not_yours"
    identity = session.get(ChatIdentity, handoff.identity_id)
    assert identity is not None
    if not _close(session, handoff, identity, outcome=outcome):
        return "closed"
    lang = identity.language or handoff.language or DEFAULT_LANGUAGE
    conv = conversations.current_conversation(session, identity=identity)
    outbox.to_chat(
        session,
        key=f"handoff:{handoff.id}:back",
        identity=identity,
        kind="system",
        text=gettext(lang, texts.HANDOFF_HANDED_BACK),
        language=lang,
        buttons=rating_buttons(handoff.id),
        conversation_id=conv.id,
        author="system",
    )
    audit.record(
        session,
        action="hand_back" if outcome == "handed_back" else "close",
        staff=staff,
        identity_id=identity.id,
        handoff_id=handoff.id,
        details={"outcome": outcome},
    )
    return None


def _close(session: Session, handoff: Handoff, identity: ChatIdentity, *, outcome: str) -> bool:
    """Close the handoff and give the chat back to the bot; False when someone else
    closed it, or (staff's pages) gave it to someone else, a moment ago: then nothing
    more is said."""
    now = utcnow()
    same_owner = (
        Handoff.assignee_id.is_(None)
        if handoff.assignee_id is None
        else Handoff.assignee_id == handoff.assignee_id
    )
    closed = session.execute(
        update(Handoff)
        .where(Handoff.id == handoff.id, Handoff.status.in_(OPEN), same_owner)
        .values(status="closed", outcome=outcome, closed_at=now, updated_at=now)
        .returning(Handoff.id)
    ).scalar_one_or_none()
    if closed is None:
        return False
    session.refresh(handoff)
    for mode in (modes.QUEUED, modes.HUMAN):
        modes.change_mode(session, identity_id=identity.id, expected=mode, new=modes.BOT)
    return True


def user_ends(session: Session, *, identity: ChatIdentity) -> Handoff | None:
    """The user sent /bot: the handoff they were in, closed; None when there was none."""
    handoff = open_handoff(session, identity_id=identity.id)
    if handoff is None or not _close(session, handoff, identity, outcome="user_ended"):
        return None
    return handoff


Rated = Literal["thanks", "already", "not_counted"]


def rate(session: Session, *, identity_id: int, handoff_id: int, score: int) -> Rated:
    """The user's rating of a closed handoff of their own chat, once."""
    if not 1 <= score <= 5:
        return "not_counted"
    handoff = session.get(Handoff, handoff_id)
    if handoff is None or handoff.identity_id != identity_id or handoff.status != "closed":
        return "not_counted"
    done = session.execute(
        update(Handoff)
        .where(Handoff.id == handoff_id, Handoff.rating.is_(None))
        .values(rating=score)
        .returning(Handoff.id)
    ).scalar_one_or_none()
    return "thanks" if done is not None else "already"


def forget(session: Session, *, identity: ChatIdentity) -> None:
    """ "Forget me": an open handoff ends, and staff's notes on the chat go."""
    handoff = open_handoff(session, identity_id=identity.id)
    if handoff is not None:
        _close(session, handoff, identity, outcome="forgotten")
    session.execute(delete(HandoffNote).where(HandoffNote.identity_id == identity.id))


@dataclass(frozen=True)
class QueueRow:
    handoff_id: int
    identity_id: int
    channel: str
    language: str
    status: str
    reason: str
    requested_at: dt.datetime
    waiting_s: float
    assignee: str | None


def queue(
    session: Session, *, view: Literal["waiting", "mine", "all"], staff: StaffUser
) -> list[QueueRow]:
    """Waiting chats oldest first; the staff member's own; every open chat."""
    now = utcnow()
    query = (
        select(Handoff, ChatIdentity.channel, StaffUser.name)
        .join(ChatIdentity, ChatIdentity.id == Handoff.identity_id)
        .outerjoin(StaffUser, StaffUser.id == Handoff.assignee_id)
        .order_by(Handoff.requested_at, Handoff.id)
    )
    if view == "waiting":
        query = query.where(Handoff.status == "queued")
    elif view == "mine":
        query = query.where(Handoff.status == "active", Handoff.assignee_id == staff.id)
    else:
        query = query.where(Handoff.status.in_(OPEN))
    return [
        QueueRow(
            handoff_id=h.id,
            identity_id=h.identity_id,
            channel=channel,
            language=h.language,
            status=h.status,
            reason=h.reason,
            requested_at=aware(h.requested_at),
            waiting_s=(now - aware(h.requested_at)).total_seconds(),
            assignee=name,
        )
        for h, channel, name in session.execute(query)
    ]


def waiting_longer_than(session: Session, *, minutes: float) -> list[Handoff]:
    cutoff = utcnow() - dt.timedelta(minutes=minutes)
    return list(
        session.scalars(
            select(Handoff)
            .where(Handoff.status == "queued", Handoff.requested_at < cutoff)
            .order_by(Handoff.requested_at)
        )
    )


def version(session: Session) -> str:
    """Changes whenever the queue or a chat in it changes: what live pages watch."""
    newest = session.execute(
        select(func.max(Handoff.updated_at), func.count()).select_from(Handoff)
    ).one()
    last_in = session.scalar(select(func.max(Message.id)).where(Message.direction == "in"))
    last_note = session.scalar(select(func.max(HandoffNote.id)))
    # What was sent, and how its delivery went (pending, delivered, failed...).
    sent = session.execute(
        select(func.count(), func.max(Outbox.finished_at)).select_from(Outbox)
    ).one()
    return f"{newest[0]}|{newest[1]}|{last_in}|{last_note}|{sent[0]}|{sent[1]}"
