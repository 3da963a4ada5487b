"""Console sessions: a random cookie, kept in the database as its SHA-256 only, with the
synchronizer token that every form of the session must send back (CSRF). A session ends
at logout, after ``IDLE`` without a request, or ``LIFETIME`` after the login, and with
its account when that is disabled."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
from dataclasses import dataclass

from sqlalchemy import delete
from sqlalchemy.orm import Session

from bot.db import aware
from bot.db.models import StaffSession, StaffUser, utcnow

COOKIE = "expatbot_staff"
IDLE = dt.timedelta(hours=2)
LIFETIME = dt.timedelta(hours=12)


@dataclass(frozen=True)
class Current:
    staff: StaffUser
    csrf_token: str


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def start(session: Session, *, staff: StaffUser) -> str:
    """A new session for ``staff``: its cookie value (never stored)."""
    token = secrets.token_urlsafe(32)
    session.add(
        StaffSession(
            token_hash=_hash(token), staff_id=staff.id, csrf_token=secrets.token_urlsafe(32)
        )
    )
    session.flush()
    return token


def current(session: Session, *, token: str, now: dt.datetime | None = None) -> Current | None:
    if not token or len(token) > 200:
        return None
    now = now or utcnow()
    row = session.get(StaffSession, _hash(token))
    if row is None:
        return None
    staff = session.get(StaffUser, row.staff_id)
    expired = now - aware(row.last_seen_at) > IDLE or now - aware(row.created_at) > LIFETIME
    if expired or staff is None or not staff.active:
        session.delete(row)
        return None
    row.last_seen_at = now
    return Current(staff, row.csrf_token)


def csrf_ok(expected: str, given: str | None) -> bool:
    """Whether a form sent back its session's token (compared in constant time)."""
    return bool(given) and hmac.compare_digest(expected.encode(), (given or "").encode())


def end(session: Session, *, token: str) -> None:
    session.execute(delete(StaffSession).where(StaffSession.token_hash == _hash(token)))


def end_all(session: Session, *, staff_id: int) -> None:
    session.execute(delete(StaffSession).where(StaffSession.staff_id == staff_id))
