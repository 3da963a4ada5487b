"""The outbox: every message to a user that is not the direct reply to a request.

Keyword-only data functions; callers own the session and its transaction, so that a
message is enqueued in the same transaction as what caused it (a turn's outcome, a
claimed reminder, an alert marked as forwarded): both happen, or neither.

A row is enqueued once per idempotency key, however often the cause is retried. A
sender claims it with a lease (``sending`` until ``lease_until``) before it calls the
channel: two senders never try one row at once, and a sender that crashes mid-send
leaves a lease that expires, after which the row is sent again. Rows to one recipient
go out in order: a row waits while an earlier one to the same recipient is unfinished.

Channels that push (Telegram, WeChat) are sent to by bot.delivery.dispatcher. Channels
whose client collects its messages (the web chat's open page, the terminal chat) read
their rows with ``collect``; a row becomes ``delivered`` when a client took it.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Integer, and_, bindparam, exists, func, or_, select, update
from sqlalchemy.orm import Session, aliased

from bot.db import aware, conversations, insert_unless_present
from bot.db.models import ChatIdentity, Message, Outbox, utcnow

UNFINISHED = ("pending", "sending")
# Messages the bot starts on its own: they wait while a person has the chat (its mode is
# not "bot") and go out afterwards, so that they do not cut into the conversation.
BOT_INITIATED = ("reminder",)
FINAL = ("delivered", "blocked", "failed")
# Not tried, because the platform would refuse it now (WeChat's customer-service window is
# closed): waits for the user's next message (``release_held``), or ends failed when it
# never comes (``expire_held``).
HELD = "held"
ERROR_CHARS = 300


@dataclass(frozen=True)
class Item:
    """One claimed row, detached from its session: what a channel's ``deliver`` gets."""

    id: int
    channel: str
    recipient: str
    identity_id: int | None
    kind: str
    text: str
    language: str
    buttons: tuple[tuple[str, str], ...]
    attempts: int
    created_at: dt.datetime


def _item(row: Outbox) -> Item:
    buttons = tuple(
        (str(b.get("title", "")), str(b.get("payload", "")))
        for b in row.buttons or []
        if isinstance(b, dict)
    )
    return Item(
        id=row.id,
        channel=row.channel,
        recipient=row.recipient,
        identity_id=row.identity_id,
        kind=row.kind,
        text=row.text,
        language=row.language,
        buttons=buttons,
        attempts=row.attempts,
        created_at=aware(row.created_at),
    )


def enqueue(
    session: Session,
    *,
    key: str,
    channel: str,
    recipient: str,
    kind: str,
    text: str,
    language: str,
    identity_id: int | None = None,
    message_id: int | None = None,
    buttons: Sequence[dict[str, Any]] | None = None,
    not_before: dt.datetime | None = None,
) -> int | None:
    """Add a message to the outbox; its row id, or None when the key was there already."""
    now = utcnow()
    values = {
        "idempotency_key": key,
        "channel": channel,
        "recipient": recipient,
        "identity_id": identity_id,
        "message_id": message_id,
        "kind": kind,
        "text": text,
        "language": language,
        "buttons": list(buttons) if buttons else None,
        "status": "pending",
        "attempts": 0,
        "next_attempt_at": not_before or now,
        "created_at": now,
    }
    stmt = insert_unless_present(session, Outbox, values, conflict_on=["idempotency_key"])
    row_id: int | None = session.execute(stmt.returning(Outbox.id)).scalar_one_or_none()
    return row_id


def to_chat(
    session: Session,
    *,
    key: str,
    identity: ChatIdentity,
    kind: str,
    text: str,
    language: str,
    buttons: Sequence[dict[str, Any]] | None = None,
    reply_to: int | None = None,
    conversation_id: int | None = None,
    author: str = "bot",
    staff_id: int | None = None,
) -> int | None:
    """Enqueue a message to a chat identity, with its copy in the chat's transcript
    (when a conversation is named): what reminders, replies sent later and staff replies
    use. The copy is written only with a new row: the same key twice is one message in
    the outbox and one line of the transcript."""
    row_id = enqueue(
        session,
        key=key,
        channel=identity.channel,
        recipient=identity.external_id,
        identity_id=identity.id,
        kind=kind,
        text=text,
        language=language,
        buttons=buttons,
    )
    if row_id is not None and conversation_id is not None:
        copy = conversations.record_outbound(
            session,
            conversation_id=conversation_id,
            text=text,
            language=language,
            reply_to=reply_to,
            buttons=buttons,
            status="queued",
            author=author,
            staff_id=staff_id,
        )
        session.execute(update(Outbox).where(Outbox.id == row_id).values(message_id=copy.id))
    return row_id


BLOCKED_ERROR = "the user blocked the bot"


def _claimable(now: Any) -> Any:
    return or_(
        and_(Outbox.status == "pending", Outbox.next_attempt_at <= now),
        and_(Outbox.status == "sending", Outbox.lease_until < now),
    )


@functools.lru_cache(maxsize=16)
def _candidates(channels: tuple[str, ...]) -> Any:
    """The due rows a sender may claim, oldest first, at most one per recipient: built
    once per set of channels, with ``now`` and ``limit`` as parameters. Built on each
    claim it was a fifth of a cluster gateway's CPU (py-spy), the aliases adapted anew
    each time, though the SQL was the same."""
    now = bindparam("now", type_=Outbox.next_attempt_at.type)
    earlier = aliased(Outbox)
    chat = aliased(ChatIdentity)
    with_a_person = func.coalesce(chat.mode, "bot") != "bot"
    blocked_by_earlier = exists().where(
        earlier.channel == Outbox.channel,
        earlier.recipient == Outbox.recipient,
        earlier.id < Outbox.id,
        earlier.status.in_(UNFINISHED),
        # A reminder held while a person has the chat holds up nothing behind it.
        ~and_(earlier.kind.in_(BOT_INITIATED), with_a_person),
    )
    return (
        select(Outbox.id, chat.blocked_at.is_not(None))
        .outerjoin(chat, chat.id == Outbox.identity_id)
        .where(
            Outbox.channel.in_(list(channels)),
            _claimable(now),
            ~and_(Outbox.kind.in_(BOT_INITIATED), with_a_person),
            ~blocked_by_earlier,
        )
        .order_by(Outbox.next_attempt_at, Outbox.id)
        .limit(bindparam("limit", type_=Integer))
    )


def claim_due(
    session: Session,
    *,
    channels: Collection[str],
    owner: str,
    lease: dt.timedelta,
    limit: int,
    now: dt.datetime | None = None,
    end_blocked: bool = True,
) -> list[Item]:
    """Claim up to ``limit`` rows that are due, at most one per recipient (the oldest
    unfinished one), for a sender that will try each before ``lease`` runs out.

    A chat whose user blocked the bot gets nothing more until they write again (which
    clears blocked_at): its due rows end "blocked", untried, as they come up, and with
    ``end_blocked`` everything else waiting for it (held rows too). That sweep looks at
    every blocked chat, so a sender that claims many times a second does it now and then
    (Dispatcher)."""
    now = now or utcnow()
    if end_blocked:
        session.execute(
            update(Outbox)
            .where(
                Outbox.channel.in_(list(channels)),
                Outbox.status.in_(("pending", HELD)),
                Outbox.identity_id.in_(
                    select(ChatIdentity.id).where(ChatIdentity.blocked_at.is_not(None))
                ),
            )
            .values(status="blocked", last_error=BLOCKED_ERROR, finished_at=now)
            .execution_options(synchronize_session=False)
        )
    candidates = session.execute(
        _candidates(tuple(sorted(channels))), {"now": now, "limit": limit}
    ).all()
    claimed: list[Item] = []
    for row_id, blocked in candidates:
        if blocked:
            session.execute(
                update(Outbox)
                .where(Outbox.id == row_id, _claimable(now))
                .values(status="blocked", last_error=BLOCKED_ERROR, finished_at=now)
            )
            continue
        # Compare-and-set: another sender may have claimed it since the SELECT.
        row = session.scalar(
            update(Outbox)
            .where(Outbox.id == row_id, _claimable(now))
            .values(status="sending", lease_owner=owner, lease_until=now + lease)
            .returning(Outbox)
        )
        if row is not None:
            claimed.append(_item(row))
    return claimed


def _finish(session: Session, *, row_id: int, owner: str, values: dict[str, Any]) -> bool:
    """Write a send's result if the row is still ours (our lease may have expired and
    another sender taken it: then that sender's result counts)."""
    row = session.scalar(
        update(Outbox)
        .where(Outbox.id == row_id, Outbox.lease_owner == owner, Outbox.status == "sending")
        .values(lease_owner=None, lease_until=None, **values)
        .returning(Outbox)
    )
    if row is None:
        return False
    if row.message_id is not None and values.get("status") in (*FINAL, HELD):
        session.execute(
            update(Message).where(Message.id == row.message_id).values(status=values["status"])
        )
    return True


def delivered(session: Session, *, row_id: int, owner: str, now: dt.datetime | None = None) -> bool:
    now = now or utcnow()
    return _finish(
        session,
        row_id=row_id,
        owner=owner,
        values={
            "status": "delivered",
            "attempts": Outbox.attempts + 1,
            "finished_at": now,
            "last_error": None,
        },
    )


def retry_at(session: Session, *, row_id: int, owner: str, at: dt.datetime, error: str) -> bool:
    """A failed try: back to ``pending`` until ``at``."""
    return _finish(
        session,
        row_id=row_id,
        owner=owner,
        values={
            "status": "pending",
            "attempts": Outbox.attempts + 1,
            "next_attempt_at": at,
            "last_error": error[:ERROR_CHARS],
        },
    )


def postpone(session: Session, *, row_id: int, owner: str, at: dt.datetime) -> bool:
    """Not tried (a rate limit said wait): back to ``pending`` until ``at``, no try counted."""
    return _finish(
        session, row_id=row_id, owner=owner, values={"status": "pending", "next_attempt_at": at}
    )


def _in_transcript(session: Session, message_ids: Sequence[int | None], status: str) -> None:
    """The rows' transcript copies (those they have) take their new state too."""
    ids = [m for m in message_ids if m is not None]
    if ids:
        session.execute(update(Message).where(Message.id.in_(ids)).values(status=status))


def hold(session: Session, *, row_id: int, owner: str, reason: str) -> bool:
    """Not tried: the platform allows it only after the user writes again. The reason is
    kept for staff (the console shows it on the message)."""
    return _finish(
        session,
        row_id=row_id,
        owner=owner,
        values={"status": HELD, "last_error": reason[:ERROR_CHARS]},
    )


def release_held(
    session: Session, *, channel: str, recipient: str, now: dt.datetime | None = None
) -> int:
    """The user wrote again: what was held for them is due now, in its order."""
    now = now or utcnow()
    ids = session.scalars(
        update(Outbox)
        .where(Outbox.channel == channel, Outbox.recipient == recipient, Outbox.status == HELD)
        .values(status="pending", next_attempt_at=now)
        .returning(Outbox.message_id)
    ).all()
    _in_transcript(session, ids, "queued")
    return len(ids)


def expire_held(session: Session, *, older_than: dt.datetime) -> int:
    """Held messages whose user never wrote again: ``failed``, with their reason kept."""
    now = utcnow()
    ids = session.scalars(
        update(Outbox)
        .where(Outbox.status == HELD, Outbox.created_at < older_than)
        .values(
            status="failed",
            finished_at=now,
            last_error=func.substr(
                "the user did not write again; " + func.coalesce(Outbox.last_error, ""),
                1,
                ERROR_CHARS,
            ),
        )
        .returning(Outbox.message_id)
    ).all()
    _in_transcript(session, ids, "failed")
    return len(ids)


def ended(
    session: Session,
    *,
    row_id: int,
    owner: str,
    status: str,
    error: str,
    now: dt.datetime | None = None,
) -> bool:
    """A final state other than delivered: ``blocked`` or ``failed``, with its reason."""
    assert status in ("blocked", "failed")
    return _finish(
        session,
        row_id=row_id,
        owner=owner,
        values={
            "status": status,
            "attempts": Outbox.attempts + 1,
            "finished_at": now or utcnow(),
            "last_error": error[:ERROR_CHARS],
        },
    )


def collect(
    session: Session,
    *,
    identity_id: int,
    channel: str,
    after_id: int | None,
    limit: int = 100,
) -> list[Item]:
    """What a collecting client (an open web-chat page) has not shown yet: every row not
    yet collected, and with ``after_id`` (the last one the client showed, e.g. SSE's
    Last-Event-ID after a reconnect) also those collected since by another of its tabs."""
    collected_since = (
        and_(Outbox.status == "delivered", Outbox.id > after_id)
        if after_id is not None
        else Outbox.id < 0
    )
    query = select(Outbox).where(
        Outbox.identity_id == identity_id,
        Outbox.channel == channel,
        or_(Outbox.status == "pending", collected_since),
    )
    mode = session.scalar(select(ChatIdentity.mode).where(ChatIdentity.id == identity_id))
    if mode not in (None, "bot"):  # reminders wait while a person has the chat
        query = query.where(Outbox.kind.notin_(BOT_INITIATED))
    rows = session.scalars(query.order_by(Outbox.id).limit(limit))
    return [_item(r) for r in rows]


def mark_collected(
    session: Session, *, row_ids: Sequence[int], now: dt.datetime | None = None
) -> None:
    now = now or utcnow()
    rows = session.scalars(
        update(Outbox)
        .where(Outbox.id.in_(list(row_ids)), Outbox.status == "pending")
        .values(status="delivered", attempts=Outbox.attempts + 1, finished_at=now)
        .returning(Outbox.message_id)
    ).all()
    _in_transcript(session, rows, "delivered")


def expire_uncollected(
    session: Session, *, channels: Collection[str], older_than: dt.datetime
) -> int:
    """Rows for collecting clients that no client took in time: ``failed``."""
    result = session.execute(
        update(Outbox)
        .where(
            Outbox.channel.in_(list(channels)),
            Outbox.status == "pending",
            Outbox.created_at < older_than,
        )
        .values(status="failed", finished_at=utcnow(), last_error="not collected by any client")
    )
    return int(getattr(result, "rowcount", 0) or 0)


def newest_id(session: Session, *, channels: Collection[str]) -> int:
    """The newest row for these channels (0 if none): how a process notices rows that
    another process enqueued."""
    return int(
        session.scalar(select(func.max(Outbox.id)).where(Outbox.channel.in_(list(channels)))) or 0
    )


def identities_since(session: Session, *, channels: Collection[str], after_id: int) -> set[int]:
    return {
        i
        for i in session.scalars(
            select(Outbox.identity_id).where(
                Outbox.channel.in_(list(channels)), Outbox.id > after_id
            )
        )
        if i is not None
    }
