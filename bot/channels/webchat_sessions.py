"""Web-chat sessions: issued by the server only, stored only as a hash, rotated on linking.

The session cookie is a bearer token for the chat, and once the chat is linked, for a
resident's records. So:
- only a token this server issued is honoured: any other value (one planted by another
  page on the same host, one made up) starts a new session with a new token;
- the database keeps the token's SHA-256 as the chat's external id, never the token,
  so neither the database nor a log line can be replayed as a cookie;
- proving who one is rotates the token (a token known before the link, e.g. planted,
  is worth nothing after it);
- a session expires after SESSION_IDLE without a message, and its link to a resident
  after LINK_TTL (a shared computer forgets the resident by itself); /unlink ends it.

Keyword-only data functions; callers own the session and its transaction.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import secrets

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.db.models import ChatIdentity, utcnow
from bot.records import accounts

CHANNEL = "webchat"
SESSION_IDLE = dt.timedelta(days=30)
LINK_TTL = dt.timedelta(hours=12)
_TOKEN = re.compile(r"^[A-Za-z0-9_-]{32,64}$")


def new_token() -> str:
    return secrets.token_urlsafe(32)


def external_id(token: str) -> str:
    """What the database keeps of a token: its hash (the chat identity's external id)."""
    return hashlib.sha256(token.encode("ascii")).hexdigest()


def _aware(moment: dt.datetime) -> dt.datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=dt.UTC)


def honoured(
    session: Session,
    *,
    token: str,
    now: dt.datetime | None = None,
    idle: dt.timedelta = SESSION_IDLE,
    link_ttl: dt.timedelta = LINK_TTL,
) -> bool:
    """Whether ``token`` names a live session this server issued. A link older than
    ``link_ttl`` is removed on the way (the chat stays, unlinked)."""
    if not _TOKEN.match(token):
        return False
    identity = session.scalar(
        select(ChatIdentity).where(
            ChatIdentity.channel == CHANNEL, ChatIdentity.external_id == external_id(token)
        )
    )
    if identity is None:
        return False
    now = now or utcnow()
    if now - _aware(identity.last_seen_at) > idle:
        return False
    if identity.resident_id is not None and (
        identity.linked_at is None or now - _aware(identity.linked_at) > link_ttl
    ):
        accounts.unlink(session, identity=identity)
    return True


def rotate_if_linked_since(session: Session, *, token: str, since: dt.datetime) -> str | None:
    """A new token for the session when it was linked at or after ``since`` (during the
    request that just ended); None otherwise."""
    identity = session.scalar(
        select(ChatIdentity).where(
            ChatIdentity.channel == CHANNEL, ChatIdentity.external_id == external_id(token)
        )
    )
    if identity is None or identity.resident_id is None or identity.linked_at is None:
        return None
    if _aware(identity.linked_at) < since:
        return None
    fresh = new_token()
    identity.external_id = external_id(fresh)
    session.flush()
    return fresh
