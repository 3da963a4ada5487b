"""Linking a chat to a resident, and what a user can undo: keyword-only data functions.

A chat identity proves who it is with a merchant card number and a date of birth (and
the last four characters of the passport number when those match more than one
person). Every kind of mismatch is one and the same failure, so nothing can be learned
by guessing. Failures are limited per chat, per card (from any number of chats) and
everywhere at once (LinkLimits); each lockout alerts staff.

Card numbers and dates of birth never reach these functions in clear: the gateway turns
what the user typed into references (keyed hashes, see bot.records.references) first.
Callers own the session and its transaction.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from bot.db import erasures, insert_unless_present
from bot.db.models import (
    AnswerVote,
    ChatIdentity,
    Conversation,
    LinkAttempt,
    LinkTarget,
    MerchantCard,
    Message,
    Outbox,
    Resident,
    StaffAlert,
    TravelDocument,
    utcnow,
)
from bot.protocol import AWAITING_CARD
from bot.records.alerts import open_alerts, raise_alert
from bot.records.references import (
    CARD,
    birth_matches,
    card_reference,
    card_reference_in,
    passport_matches,
    protect,
)

# Kept importable from here: older callers and tests name them bot.records.accounts.*.
__all__ = [
    "CARD_REF_TOKEN",
    "card_reference",
    "card_reference_in",
    "open_alerts",
    "raise_alert",
    "replace_card_number",
]
CARD_REF_TOKEN = CARD

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LinkLimits:
    """How many failed attempts to link are allowed, and where.

    Per chat, so that one chat gives up soon; per card (with every other card of the
    people holding it), so that new chats (a new web-chat cookie costs nothing) get no
    fresh tries at one card: at about 25,000 plausible dates of birth, 10 tries a day
    leave a known card number safe for years. Everywhere at once, so that a flood of
    attempts at many cards pauses linking and reaches staff.
    """

    per_chat: int = 5
    per_card: int = 10
    window: dt.timedelta = dt.timedelta(hours=24)
    everywhere_per_hour: int = 300


LIMITS = LinkLimits()
MAX_FAILURES = LIMITS.per_chat
FAILURE_WINDOW = LIMITS.window


def replace_card_number(text: str, *, key: bytes) -> str | None:
    """The text with its card number replaced by the number's reference, or None when it
    holds none (bot.records.references.protect does this and more for every message)."""
    replaced = protect(text, key=key, awaiting=AWAITING_CARD)
    return replaced if CARD in replaced else None


def identity_by_public_id(session: Session, *, public_id: str) -> ChatIdentity | None:
    return session.scalar(select(ChatIdentity).where(ChatIdentity.public_id == public_id))


def _failures(session: Session, *conditions: Any) -> int:
    count = session.scalar(
        select(func.count())
        .select_from(LinkAttempt)
        .where(LinkAttempt.succeeded.is_(False), *conditions)
    )
    return int(count or 0)


def recent_failures(
    session: Session,
    *,
    identity_id: int,
    now: dt.datetime | None = None,
    limits: LinkLimits = LIMITS,
) -> int:
    since = (now or utcnow()) - limits.window
    return _failures(
        session, LinkAttempt.identity_id == identity_id, LinkAttempt.created_at > since
    )


def is_locked(
    session: Session,
    *,
    identity_id: int,
    now: dt.datetime | None = None,
    limits: LinkLimits = LIMITS,
) -> bool:
    failures = recent_failures(session, identity_id=identity_id, now=now, limits=limits)
    return failures >= limits.per_chat


def _card_match(card_ref: str) -> Any:
    kind, _, value = card_ref.partition(":")
    if kind == "n":
        return MerchantCard.number_hash == value
    if kind == "d":
        return MerchantCard.digits_hash == value
    return None


def holders(session: Session, *, card_ref: str, lock: bool = False) -> list[Resident]:
    """The residents holding a card that this reference matches (locked FOR UPDATE on
    PostgreSQL when ``lock``, in id order so that two attempts never deadlock)."""
    match = _card_match(card_ref)
    if match is None:
        return []
    ids = select(MerchantCard.resident_id).where(match)
    query = select(Resident).where(Resident.id.in_(ids)).order_by(Resident.id)
    return list(session.scalars(query.with_for_update() if lock else query))


def target_refs(session: Session, *, card_ref: str, residents: list[Resident]) -> set[str]:
    """Every reference that names the same card or its holders' other cards: failures
    at any of them count against all of them."""
    refs = {card_ref}
    if residents:
        cards = session.scalars(
            select(MerchantCard).where(MerchantCard.resident_id.in_([r.id for r in residents]))
        )
        for card in cards:
            refs.add("n:" + card.number_hash)
            if card.digits_hash:
                refs.add("d:" + card.digits_hash)
    return refs


def card_failures(
    session: Session,
    *,
    refs: set[str],
    now: dt.datetime | None = None,
    limits: LinkLimits = LIMITS,
) -> int:
    since = (now or utcnow()) - limits.window
    return _failures(session, LinkAttempt.card_ref.in_(refs), LinkAttempt.created_at > since)


def failures_everywhere(session: Session, *, now: dt.datetime | None = None) -> int:
    since = (now or utcnow()) - dt.timedelta(hours=1)
    return _failures(session, LinkAttempt.created_at > since)


def _serialise_attempts_at(session: Session, card_ref: str) -> None:
    """Take the card reference's row lock before anything is counted.

    This is the transaction's first write: on SQLite it takes the database's write lock
    (so attempts are counted one at a time), on PostgreSQL the row stays locked until
    commit, so that parallel attempts at one card cross the threshold exactly once.
    """
    session.execute(
        insert_unless_present(session, LinkTarget, {"ref": card_ref, "created_at": utcnow()})
    )
    session.execute(select(LinkTarget.ref).where(LinkTarget.ref == card_ref).with_for_update())


def candidates(session: Session, *, card_ref: str, birth_ref: str) -> list[Resident]:
    """The residents holding this card (by reference) and born on this date (by
    reference: either reading of an ambiguous date)."""
    return [
        r for r in holders(session, card_ref=card_ref) if birth_matches(birth_ref, r.birth_hash)
    ]


@dataclass(frozen=True)
class LinkResult:
    # locked: this chat tried too often; card_locked: this card was tried too often
    # (from any chats); paused: too many failures everywhere in the last hour.
    outcome: Literal["linked", "mismatch", "locked", "card_locked", "paused"]
    resident_id: int | None = None
    attempts_left: int = 0


def attempt_link(
    session: Session,
    *,
    identity: ChatIdentity,
    card_ref: str,
    birth_ref: str,
    passport_ref: str | None,
    key: bytes,
    now: dt.datetime | None = None,
    limits: LinkLimits = LIMITS,
) -> LinkResult:
    """Link ``identity`` to the one resident these details fit, or count a failure.

    Nothing is compared once this chat, this card or linking as a whole is locked, so
    that the right details found by guessing are worth nothing then.
    """
    now = now or utcnow()
    _serialise_attempts_at(session, card_ref)
    if is_locked(session, identity_id=identity.id, now=now, limits=limits):
        return LinkResult("locked")
    residents = holders(session, card_ref=card_ref, lock=True)
    refs = target_refs(session, card_ref=card_ref, residents=residents)
    if card_failures(session, refs=refs, now=now, limits=limits) >= limits.per_card:
        return LinkResult("card_locked")
    everywhere = failures_everywhere(session, now=now)
    if everywhere >= limits.everywhere_per_hour:
        _alert_pause_once(session, now=now, failures=everywhere)
        return LinkResult("paused")
    found = [r for r in residents if birth_matches(birth_ref, r.birth_hash)]
    if passport_ref:
        found = [
            r
            for r in found
            if passport_matches(
                passport_ref, passport_hash=r.passport_hash, last4=r.passport_last4, key=key
            )
        ]
    if len(found) == 1:
        identity.resident_id = found[0].id
        identity.linked_at = now
        session.add(
            LinkAttempt(identity_id=identity.id, succeeded=True, created_at=now, card_ref=card_ref)
        )
        session.flush()
        return LinkResult("linked", resident_id=found[0].id)
    session.add(
        LinkAttempt(identity_id=identity.id, succeeded=False, created_at=now, card_ref=card_ref)
    )
    session.flush()
    at_card = card_failures(session, refs=refs, now=now, limits=limits)
    hours = f"{limits.window.total_seconds() / 3600:.0f}"
    if at_card == limits.per_card:
        # Counted under the card's lock: this attempt is the one that crossed the line.
        raise_alert(
            session,
            kind="card_lockout",
            identity_id=identity.id,
            params={
                "failures": at_card,
                "ref": card_ref[:10],
                "chats": _chats_at(session, refs=refs, now=now, limits=limits),
                "hours": hours,
            },
            now=now,
        )
    failures = recent_failures(session, identity_id=identity.id, now=now, limits=limits)
    if failures >= limits.per_chat:
        raise_alert(
            session,
            kind="link_lockout",
            identity_id=identity.id,
            params={
                "failures": failures,
                "channel": identity.channel,
                "chat": identity.public_id[:8],
                "hours": hours,
            },
            now=now,
        )
        return LinkResult("locked")
    if at_card >= limits.per_card:
        return LinkResult("card_locked")
    return LinkResult("mismatch", attempts_left=limits.per_chat - failures)


def _chats_at(session: Session, *, refs: set[str], now: dt.datetime, limits: LinkLimits) -> int:
    count = session.scalar(
        select(func.count(func.distinct(LinkAttempt.identity_id))).where(
            LinkAttempt.card_ref.in_(refs),
            LinkAttempt.succeeded.is_(False),
            LinkAttempt.created_at > now - limits.window,
        )
    )
    return int(count or 0)


def _alert_pause_once(session: Session, *, now: dt.datetime, failures: int) -> None:
    """One staff alert per hour while linking is paused everywhere."""
    recent = session.scalar(
        select(func.count())
        .select_from(StaffAlert)
        .where(
            StaffAlert.kind == "link_paused", StaffAlert.created_at > now - dt.timedelta(hours=1)
        )
    )
    if not recent:
        raise_alert(
            session, kind="link_paused", identity_id=None, params={"failures": failures}, now=now
        )


def unlink(session: Session, *, identity: ChatIdentity) -> bool:
    """Remove the link, and the reminders queued for this chat and not yet delivered
    (they are about the resident); whether there was a link."""
    was_linked = identity.resident_id is not None
    identity.resident_id = None
    identity.linked_at = None
    session.execute(
        update(Outbox)
        .where(
            Outbox.identity_id == identity.id,
            Outbox.kind == "reminder",
            # "held": waiting for the user's next message (WeChat's window).
            Outbox.status.in_(("pending", "held")),
        )
        .values(
            status="failed", last_error="cancelled: the chat was unlinked", finished_at=utcnow()
        )
    )
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
    id starts Rasa afresh; Rasa's copy of the old conversation (in its tracker store:
    memory, or PostgreSQL in a cluster) is erased by the erasure job (bot.jobs.erasures),
    asked for here in the same transaction.
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
    # What the outbox holds for this chat is transcript too (reminders name documents),
    # sent or not.
    session.execute(delete(Outbox).where(Outbox.identity_id == identity.id))
    session.execute(
        update(AnswerVote).where(AnswerVote.identity_id == identity.id).values(identity_id=None)
    )
    identity.resident_id = None
    identity.linked_at = None
    identity.language = None
    identity.language_chosen = False
    identity.client_language = None
    identity.reminders_enabled = True
    identity.awaiting = None
    erasures.request(session, sender=identity.public_id)
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
