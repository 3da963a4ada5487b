"""Linking a chat to a resident, and what a user can undo: keyword-only data functions.

A chat identity proves who it is with a merchant card number and a date of birth (and
the last four characters of the passport number when those match more than one
person). Every kind of mismatch is one and the same failure, so nothing can be learned
by guessing; five failures in 24 hours lock the chat identity and alert staff.

Card numbers never reach these functions in clear: the action server turns what the
user typed into a *card reference* (a keyed hash, see bot.registry.secrets) first.
Callers own the session and its transaction.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import unicodedata
import uuid
from dataclasses import dataclass
from typing import Literal

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from bot.models import (
    AnswerVote,
    ChatIdentity,
    Conversation,
    LinkAttempt,
    MerchantCard,
    Message,
    Resident,
    StaffAlert,
    TravelDocument,
    utcnow,
)
from bot.registry.secrets import digits_hash, normalise_number, number_hash
from rasa_addons.entities import extract

# How a card reference travels in place of the typed number (see bot.core).
CARD_REF_TOKEN = "cardref:"
_CARD_REF = re.compile(r"(?<![\w:])cardref:([nd]:[0-9a-f]{64})(?![0-9a-f])")
_WHOLE_CARD = re.compile(r"^[A-Z]{0,3}\d{8,18}$")
MAX_FAILURES = 5
FAILURE_WINDOW = dt.timedelta(hours=24)

log = logging.getLogger(__name__)


def card_reference(raw: str, *, key: bytes) -> str:
    """What is kept of a typed card number while a chat proves who it is.

    With its letter prefix the card is compared exactly; digits alone are compared with
    the digits of every card, which can match cards of more than one person.
    """
    number = normalise_number(raw)
    if any(ch.isalpha() for ch in number):
        return "n:" + number_hash(number, key=key)
    return "d:" + digits_hash(number, key=key)


def typed_card_number(text: str) -> str | None:
    """The card number in what a user typed: the whole answer ("yw 2016-0012-34"), or
    a number inside a sentence ("my card is YW2016001234")."""
    whole = normalise_number(text)
    if _WHOLE_CARD.match(whole):
        return whole
    return next((e.value for e in extract(text) if e.entity == "card_number"), None)


def replace_card_number(text: str, *, key: bytes) -> str | None:
    """The text with its card number replaced by the number's reference, or None when it
    holds none. The rest of the message stays, so that Rasa still reads its words."""
    text = unicodedata.normalize("NFKC", text)
    if _WHOLE_CARD.match(normalise_number(text)):
        return CARD_REF_TOKEN + card_reference(text, key=key)
    found = next((e for e in extract(text) if e.entity == "card_number"), None)
    if found is None:
        return None
    token = CARD_REF_TOKEN + card_reference(found.value, key=key)
    return text[: found.start] + token + text[found.end :]


def card_reference_in(text: str, *, key: bytes) -> str | None:
    """The card reference in an answer: put there by the gateway, or typed as a number."""
    token = _CARD_REF.search(text)
    if token:
        return token.group(1)
    number = typed_card_number(text)
    return card_reference(number, key=key) if number else None


def identity_by_public_id(session: Session, *, public_id: str) -> ChatIdentity | None:
    return session.scalar(select(ChatIdentity).where(ChatIdentity.public_id == public_id))


def recent_failures(session: Session, *, identity_id: int, now: dt.datetime | None = None) -> int:
    since = (now or utcnow()) - FAILURE_WINDOW
    count = session.scalar(
        select(func.count())
        .select_from(LinkAttempt)
        .where(
            LinkAttempt.identity_id == identity_id,
            LinkAttempt.succeeded.is_(False),
            LinkAttempt.created_at > since,
        )
    )
    return int(count or 0)


def is_locked(session: Session, *, identity_id: int, now: dt.datetime | None = None) -> bool:
    return recent_failures(session, identity_id=identity_id, now=now) >= MAX_FAILURES


def candidates(session: Session, *, card_ref: str, date_of_birth: dt.date) -> list[Resident]:
    """The residents holding this card (by reference) and born on this date."""
    kind, _, value = card_ref.partition(":")
    if kind == "n":
        card_match = MerchantCard.number_hash == value
    elif kind == "d":
        card_match = MerchantCard.digits_hash == value
    else:
        return []
    return list(
        session.scalars(
            select(Resident)
            .join(MerchantCard, MerchantCard.resident_id == Resident.id)
            .where(card_match, Resident.date_of_birth == date_of_birth)
            .distinct()
            .order_by(Resident.id)
        )
    )


@dataclass(frozen=True)
class LinkResult:
    outcome: Literal["linked", "mismatch", "locked"]
    resident_id: int | None = None
    attempts_left: int = 0


def attempt_link(
    session: Session,
    *,
    identity: ChatIdentity,
    card_ref: str,
    date_of_birth: dt.date,
    passport_last4: str | None,
    now: dt.datetime | None = None,
) -> LinkResult:
    """Link ``identity`` to the one resident these details fit, or count a failure."""
    now = now or utcnow()
    if is_locked(session, identity_id=identity.id, now=now):
        return LinkResult("locked")
    found = candidates(session, card_ref=card_ref, date_of_birth=date_of_birth)
    if passport_last4:
        wanted = normalise_number(passport_last4)[-4:]
        found = [r for r in found if r.passport_last4 == wanted]
    if len(found) == 1:
        identity.resident_id = found[0].id
        session.add(LinkAttempt(identity_id=identity.id, succeeded=True, created_at=now))
        session.flush()
        return LinkResult("linked", resident_id=found[0].id)
    session.add(LinkAttempt(identity_id=identity.id, succeeded=False, created_at=now))
    session.flush()
    failures = recent_failures(session, identity_id=identity.id, now=now)
    if failures >= MAX_FAILURES:
        raise_alert(
            session,
            kind="link_lockout",
            identity_id=identity.id,
            details=f"{failures} failed attempts to link {identity.channel} chat "
            f"{identity.public_id[:8]} in 24 hours; locked",
        )
        return LinkResult("locked")
    return LinkResult("mismatch", attempts_left=MAX_FAILURES - failures)


def raise_alert(session: Session, *, kind: str, identity_id: int | None, details: str) -> None:
    session.add(StaffAlert(kind=kind, identity_id=identity_id, details=details))
    session.flush()
    log.warning("staff alert %s: %s", kind, details)


def open_alerts(session: Session) -> list[StaffAlert]:
    return list(
        session.scalars(
            select(StaffAlert).where(StaffAlert.resolved_at.is_(None)).order_by(StaffAlert.id)
        )
    )


def unlink(session: Session, *, identity: ChatIdentity) -> bool:
    """Remove the link; whether there was one."""
    was_linked = identity.resident_id is not None
    identity.resident_id = None
    session.flush()
    return was_linked


@dataclass(frozen=True)
class Forgotten:
    messages: int
    conversations: int


def forget(session: Session, *, identity: ChatIdentity) -> Forgotten:
    """Delete the link, the transcript and the preferences of one chat identity.

    Kept, and why: the identity row itself with a new public id (the channel's user id
    is needed to keep the next point), the link attempts of the last 24 hours (so that
    forgetting cannot reset the lockout; they hold no typed data), staff alerts (a
    security record), and votes on answers, which lose their identity and stay as
    anonymous counts. Rasa's conversation state is keyed by the public id, so the new
    id starts Rasa afresh; the old state lives only in Rasa's memory until it restarts.
    """
    conv_ids = list(
        session.scalars(select(Conversation.id).where(Conversation.identity_id == identity.id))
    )
    messages = 0
    if conv_ids:
        # Replies point at the messages they answer: clear those links before deleting.
        session.execute(
            update(Message).where(Message.conversation_id.in_(conv_ids)).values(reply_to_id=None)
        )
        result = session.execute(delete(Message).where(Message.conversation_id.in_(conv_ids)))
        messages = int(getattr(result, "rowcount", 0) or 0)
        session.execute(delete(Conversation).where(Conversation.id.in_(conv_ids)))
    session.execute(
        update(AnswerVote).where(AnswerVote.identity_id == identity.id).values(identity_id=None)
    )
    identity.resident_id = None
    identity.language = None
    identity.language_chosen = False
    identity.client_language = None
    identity.reminders_enabled = True
    identity.awaiting = None
    identity.public_id = str(uuid.uuid4())
    session.flush()
    return Forgotten(messages=messages, conversations=len(conv_ids))


def set_reminders(session: Session, *, identity: ChatIdentity, enabled: bool) -> None:
    identity.reminders_enabled = enabled
    session.flush()


def resident_cards(session: Session, *, resident_id: int) -> list[MerchantCard]:
    """The resident's merchant cards, the one expiring last first."""
    return list(
        session.scalars(
            select(MerchantCard)
            .where(MerchantCard.resident_id == resident_id)
            .order_by(MerchantCard.expires_on.desc(), MerchantCard.id.desc())
        )
    )


def resident_documents(session: Session, *, resident_id: int) -> list[TravelDocument]:
    """The resident's visas and residence permits, the one expiring last first."""
    return list(
        session.scalars(
            select(TravelDocument)
            .where(TravelDocument.resident_id == resident_id)
            .order_by(TravelDocument.expires_on.desc(), TravelDocument.id.desc())
        )
    )
