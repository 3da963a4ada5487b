"""Staff accounts: names, roles, argon2 password hashes, an optional TOTP second factor.

Roles and what each may do (bot.staff.console checks it on every route):

    agent        the queue, chats: take, reply, note, transfer, hand back
    supervisor   all of an agent's, everyone's chats, reassignment, long waits, the audit log
    editor       the answer status page (which answers are old, untranslated, unhelpful)
    admin        accounts, the audit log
"""

from __future__ import annotations

import re

import pyotp
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.db.models import StaffUser

ROLES = ("agent", "supervisor", "editor", "admin")
PERMISSIONS: dict[str, frozenset[str]] = {
    "chats": frozenset({"agent", "supervisor"}),
    "all_chats": frozenset({"supervisor"}),
    "alerts": frozenset({"agent", "supervisor", "admin"}),
    "answers": frozenset({"editor", "supervisor"}),
    "audit": frozenset({"supervisor", "admin"}),
    "accounts": frozenset({"admin"}),
    # Dispute tickets, a shared queue: list, see and work them; their evidence files;
    # work or reassign a ticket someone else holds.
    "tickets": frozenset({"agent", "supervisor"}),
    "ticket_evidence": frozenset({"agent", "supervisor"}),
    "tickets_reassign": frozenset({"supervisor"}),
}
MIN_PASSWORD = 12
CONSOLE_LANGUAGES = ("zh", "en")
_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{1,31}$")
_hasher = PasswordHasher()
# Checked against when no account has the name typed, so that a wrong name takes as long
# as a wrong password and does not reveal which names exist.
_DUMMY_HASH = _hasher.hash("no account has this name, and none ever will")


class AccountError(ValueError):
    """Why an account cannot be made: ``code`` for the console (which says it in the
    staff member's language), the message for the command line."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def may(staff: StaffUser, permission: str) -> bool:
    return staff.active and staff.role in PERMISSIONS[permission]


def normalise_name(name: str) -> str:
    return name.strip().lower()


def find(session: Session, *, name: str) -> StaffUser | None:
    return session.scalar(select(StaffUser).where(StaffUser.name == normalise_name(name)))


def add(
    session: Session, *, name: str, role: str, password: str, language: str = "zh"
) -> StaffUser:
    name = normalise_name(name)
    if not _NAME.match(name):
        raise AccountError(
            "bad_name",
            "a name is 2-32 lower-case letters, digits, '.', '_' or '-', starting with a "
            "letter or digit",
        )
    if role not in ROLES:
        raise AccountError("bad_role", f"unknown role {role!r}; roles: {', '.join(ROLES)}")
    if len(password) < MIN_PASSWORD:
        raise AccountError(
            "short_password", f"the password must have at least {MIN_PASSWORD} characters"
        )
    if language not in CONSOLE_LANGUAGES:
        raise AccountError("bad_language", f"the console speaks {', '.join(CONSOLE_LANGUAGES)}")
    if find(session, name=name) is not None:
        raise AccountError("exists", f"there is already an account named {name}")
    staff = StaffUser(name=name, role=role, password_hash=_hasher.hash(password), language=language)
    session.add(staff)
    session.flush()
    return staff


def password_matches(staff: StaffUser | None, password: str) -> bool:
    """Whether the password is the account's (None: a name no account has, checked
    against a dummy hash all the same). A hash made with older parameters is renewed."""
    try:
        _hasher.verify(staff.password_hash if staff else _DUMMY_HASH, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False
    if staff is None:
        return False
    if _hasher.check_needs_rehash(staff.password_hash):
        staff.password_hash = _hasher.hash(password)
    return True


def set_password(staff: StaffUser, password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise AccountError(
            "short_password", f"the password must have at least {MIN_PASSWORD} characters"
        )
    staff.password_hash = _hasher.hash(password)


def enable_totp(staff: StaffUser) -> str:
    """A new second-factor secret for the account; its otpauth:// URI for an app."""
    staff.totp_secret = pyotp.random_base32()
    return pyotp.TOTP(staff.totp_secret).provisioning_uri(
        name=staff.name, issuer_name="Yiwu expat assistant"
    )


def totp_matches(staff: StaffUser, code: str) -> bool:
    """Whether the code is right, when the account has a second factor (else True)."""
    if not staff.totp_secret:
        return True
    code = code.strip().replace(" ", "")
    return code.isdigit() and pyotp.TOTP(staff.totp_secret).verify(code, valid_window=1)
