"""Shared by the ticket tests: chats, residents, staff and tickets in a given state, and
pictures made with Pillow here (no binary file in the repository)."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bot.db import conversations
from bot.db.models import ChatIdentity, Resident, StaffUser, Ticket
from bot.settings import get_settings
from bot.tickets import tickets

# A Linux program: what a file named photo.jpg may really be.
ELF = b"\x7fELF\x02\x01\x01\x00" + b"\x00" * 8 + b"\x02\x00\x3e\x00\x01\x00\x00\x00" + b"\0" * 200
# Yiwu, to the second: what must never leave the user's phone with a photo.
GPS = {1: "N", 2: (29.0, 18.0, 36.5), 3: "E", 4: (120.0, 4.0, 48.0)}


@contextmanager
def evidence_dir(root: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Evidence files under ``root`` (EVIDENCE_DIR), settings read afresh, and forgotten
    after: nothing of a test lands in the project's var/."""
    before = os.environ.get("EVIDENCE_DIR")
    monkeypatch.setenv("EVIDENCE_DIR", str(root))
    get_settings.cache_clear()
    try:
        yield root
    finally:
        # What was set before (tests/conftest.py sets one for the whole run) comes back.
        if before is None:
            monkeypatch.delenv("EVIDENCE_DIR", raising=False)
        else:
            monkeypatch.setenv("EVIDENCE_DIR", before)
        get_settings.cache_clear()


def files_under(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


# --- pictures ------------------------------------------------------------------------


def jpeg(seed: int = 0, size: tuple[int, int] = (32, 24)) -> bytes:
    """A small JPEG, different for each seed (so that each is its own file)."""
    out = io.BytesIO()
    Image.new("RGB", size, (seed * 37 % 256, seed * 91 % 256, 120)).save(out, "JPEG")
    return out.getvalue()


def png(seed: int = 0, size: tuple[int, int] = (16, 16)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, (200, seed * 53 % 256, 10)).save(out, "PNG")
    return out.getvalue()


def jpeg_with_gps() -> bytes:
    exif = Image.Exif()
    exif[0x010F] = "SecretPhone"  # Make
    exif.get_ifd(0x8825).update(GPS)  # GPSInfo
    out = io.BytesIO()
    Image.new("RGB", (40, 20), (200, 30, 30)).save(out, "JPEG", exif=exif)
    return out.getvalue()


def fake_sha(n: int) -> str:
    return hashlib.sha256(f"file {n}".encode()).hexdigest()


# --- people and tickets --------------------------------------------------------------


def chat(
    s: Session,
    external_id: str,
    *,
    channel: str = "telegram",
    resident: Resident | None = None,
    language: str | None = None,
    awaiting: str | None = None,
) -> ChatIdentity:
    identity = conversations.get_or_create_identity(s, channel=channel, external_id=external_id)
    if resident is not None:
        identity.resident_id = resident.id
        identity.linked_at = dt.datetime.now(dt.UTC)
    identity.language = language
    identity.awaiting = awaiting
    s.flush()
    return identity


def resident(s: Session, name: str = "Olga Petrova") -> Resident:
    person = Resident(
        full_name=name,
        birth_hash=uuid.uuid4().hex,
        passport_hash=uuid.uuid4().hex,
        passport_last4="1234",
    )
    s.add(person)
    s.flush()
    return person


def staff(s: Session, name: str = "li.wei") -> StaffUser:
    user = StaffUser(name=name, role="agent", password_hash="-", language="zh")
    s.add(user)
    s.flush()
    return user


def file_ticket(
    s: Session,
    identity: ChatIdentity,
    *,
    party: str = "Golden Bead Supplies",
    description: str = "They kept my deposit.",
    kind: str = "supplier",
    language: str = "en",
    now: dt.datetime | None = None,
    **values: Any,
) -> Ticket:
    """A submitted ticket of this chat (the form's way: a draft, its answers, submit)."""
    tickets.start_draft(s, identity=identity, language=language)
    tickets.update_draft(
        s,
        identity_id=identity.id,
        values={"kind": kind, "party_name": party, "description": description, **values},
    )
    done = tickets.submit(s, identity=identity, now=now)
    assert done is not None and done.created
    return done.ticket


def put_status(s: Session, ticket: Ticket, status: str, **values: Any) -> Ticket:
    """Set a ticket's status directly (test setup, not a transition)."""
    ticket.status = status
    for name, value in values.items():
        setattr(ticket, name, value)
    s.flush()
    return ticket


def count(s: Session, model: Any, *where: Any) -> int:
    return int(s.scalar(select(func.count()).select_from(model).where(*where)) or 0)
