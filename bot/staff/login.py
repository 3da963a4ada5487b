"""Logging in to the console, and what stops guessing: per account name, not per browser.

Five failed logins for one name in 15 minutes lock that name for the rest of those 15
minutes, whoever tries and from wherever (a new cookie or address earns no new tries);
the lock is in the audit log and raises a staff alert. Each failure is also answered
more slowly than the one before (bot.staff.console.login waits ``delay_after``).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Literal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bot.db import audit
from bot.db.models import StaffLoginAttempt, StaffUser, utcnow
from bot.records import alerts
from bot.staff import accounts

MAX_FAILURES = 5
WINDOW = dt.timedelta(minutes=15)


@dataclass(frozen=True)
class Login:
    result: Literal["ok", "wrong", "locked", "second_factor"]
    staff: StaffUser | None = None
    failures: int = 0


def failures(session: Session, *, name: str, now: dt.datetime) -> int:
    return int(
        session.scalar(
            select(func.count())
            .select_from(StaffLoginAttempt)
            .where(
                StaffLoginAttempt.name == name,
                StaffLoginAttempt.succeeded.is_(False),
                StaffLoginAttempt.created_at > now - WINDOW,
            )
        )
        or 0
    )


def delay_after(failed: int) -> float:
    """Seconds to wait before answering a failed login: 0.5, 1, 1.5 ... at most 3."""
    return min(3.0, 0.5 * failed)


def attempt(
    session: Session, *, name: str, password: str, code: str = "", now: dt.datetime | None = None
) -> Login:
    now = now or utcnow()
    name = accounts.normalise_name(name)[:64]
    if failures(session, name=name, now=now) >= MAX_FAILURES:
        audit.record(session, action="login_locked", staff_name=name, now=now)
        return Login("locked", failures=MAX_FAILURES)
    staff = accounts.find(session, name=name)
    good = accounts.password_matches(staff, password) and staff is not None and staff.active
    if good and staff is not None and staff.totp_secret and not code:
        return Login("second_factor", staff)  # not a failure: the form asks for the code
    if good and staff is not None and accounts.totp_matches(staff, code):
        session.add(StaffLoginAttempt(name=name, succeeded=True, created_at=now))
        audit.record(session, action="login", staff=staff, now=now)
        return Login("ok", staff)
    session.add(StaffLoginAttempt(name=name, succeeded=False, created_at=now))
    session.flush()
    failed = failures(session, name=name, now=now)
    audit.record(session, action="login_failed", staff=staff, staff_name=name, now=now)
    if failed == MAX_FAILURES:
        alerts.raise_alert(
            session,
            kind="staff_login_lockout",
            identity_id=None,
            params={"name": name, "failures": failed, "minutes": int(WINDOW.total_seconds() // 60)},
            now=now,
        )
    return Login("locked" if failed >= MAX_FAILURES else "wrong", failures=failed)
