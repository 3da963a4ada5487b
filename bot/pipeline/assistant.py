"""The one path every inbound message takes, whatever channel it came from.

    store (inbox) -> take the chat's lease -> the chain of handlers (bot.pipeline.chain)
    -> store the outcome and the replies, or put them in the outbox -> next message

Two ways in, by what the channel can do with a reply:

- ``receive`` (web chat, terminal): the request waits for its reply and returns it. A
  request that waits too long stops waiting, and the reply goes through the outbox.
- ``accept`` then ``answer_later`` (Telegram, WeChat): the message is committed before
  the platform gets its acknowledgement; it is answered afterwards, and every reply goes
  through the outbox (bot.delivery).

A message is never lost: it is stored before anything can fail, handled under the chat's
lease by whichever process holds it, and ends in exactly one final state (answered,
rejected, with staff, failed with an apology). What a crash leaves is answered by
``recover`` (the sweeper job), or apologised for when it has waited too long.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import time
import uuid
import weakref
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, joinedload, sessionmaker

from bot import metrics, texts
from bot.answers.store import AnswerStore
from bot.answers.ui import say
from bot.db import conversations, in_transaction
from bot.db.models import ChatIdentity, Message, utcnow
from bot.delivery import outbox
from bot.handoff import handoffs, notices
from bot.handoff.modes import BOT
from bot.i18n import DEFAULT_LANGUAGE, normalise_language
from bot.logging_setup import CONVERSATION
from bot.messages import Attachment, Button, Fetcher, Inbound, Outbound
from bot.nlu.sanitize import clean
from bot.pipeline import inbox
from bot.pipeline.chain import build_chain
from bot.pipeline.flood import FloodGuard
from bot.pipeline.inbox import FINAL, Pending, Receipt
from bot.pipeline.rasa_client import RasaClient
from bot.pipeline.turn import Outcome, Turn

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass(frozen=True)
class InboxTiming:
    """How long things may take; the defaults follow Rasa's timeout (30 s)."""

    # A chat's lease: longer than one turn can take, so that only a dead holder loses it.
    lease: dt.timedelta = dt.timedelta(seconds=60)
    # How long a request waits for its reply before the reply goes to the outbox:
    # shorter than the lease, so that a waiter is gone before the sweeper takes over.
    wait_s: float = 45.0
    # How often a waiter looks again when the holder is another process.
    poll_s: float = 0.2
    # A message waiting this long in a chat no one holds was left by a stopped process.
    orphan_after: dt.timedelta = dt.timedelta(seconds=10)
    # Older than this when its turn comes, a message gets an apology instead of an answer.
    max_age: dt.timedelta = dt.timedelta(minutes=15)

    @classmethod
    def for_rasa_timeout(cls, rasa_timeout_s: float, *, max_age_s: float) -> InboxTiming:
        return cls(
            lease=dt.timedelta(seconds=rasa_timeout_s + 30),
            wait_s=rasa_timeout_s + 15,
            max_age=dt.timedelta(seconds=max_age_s),
        )


@dataclass
class Result:
    """What a request that waited gets back."""

    message_id: int | None
    # The message's final state; "received" when the reply will come through the
    # outbox; "not_saved" when it could not be stored at all.
    status: str
    replies: list[Outbound] = field(default_factory=list)
    duplicate: bool = False
    # The answer comes (or came) through the outbox, not in ``replies``.
    later: bool = False


@dataclass(frozen=True)
class Step:
    """After one turn: the chat's next waiting message, and whether the outbox grew."""

    following: Pending | None
    enqueued: bool
    # The stored outcome (status, language) and how many replies went out with it:
    # counted for /metrics once the transaction committed. None: nothing was stored.
    handled: tuple[str, str, int] | None = None


class Assistant:
    def __init__(
        self,
        *,
        sessions: sessionmaker[Session],
        rasa: RasaClient,
        intents: frozenset[str],
        registry_key: bytes,
        max_message_chars: int = 2000,
        answers: AnswerStore | None = None,
        timing: InboxTiming | None = None,
        on_outbox: Callable[[], None] | None = None,
        minutes_per_chat: float = 5.0,
        flood: FloodGuard | None = None,
    ) -> None:
        self.sessions = sessions
        # With the registry's key, card and passport numbers and dates of birth are
        # replaced by keyed hashes before a message is stored or reaches Rasa.
        self._key = registry_key
        self._max_chars = max_message_chars
        # How each channel hands over a file's bytes (bot.messages.Fetcher): filled by the
        # composition root as it builds the channels, which need the assistant first.
        self.fetchers: dict[str, Fetcher] = {}
        self._handlers, self._last = build_chain(
            fetchers=self.fetchers,
            sessions=sessions,
            rasa=rasa,
            intents=intents,
            answers=answers,
            max_chars=max_message_chars,
            flood=flood,
        )
        self.timing = timing or InboxTiming()
        # How long staff take per waiting chat, before there is any history to go by.
        self._minutes_per_chat = minutes_per_chat
        # Called after a turn put replies in the outbox: the composition root wakes the
        # dispatcher and the web chat's open pages with it.
        self.on_outbox: Callable[[], None] = on_outbox or (lambda: None)
        # Weak: a chat's event lives as long as someone waits on it.
        self._wakeups: weakref.WeakValueDictionary[int, asyncio.Event] = (
            weakref.WeakValueDictionary()
        )
        # Replies of messages handled in this process, for a request waiting for them
        # (after "forget me" they are not in the database).
        self._results: OrderedDict[int, tuple[str, list[Outbound] | None]] = OrderedDict()

    async def _db(self, fn: Callable[[Session], T]) -> T:
        return await in_transaction(self.sessions, fn)

    # The two ways in ------------------------------------------------------------------

    async def handle(self, inbound: Inbound) -> list[Outbound]:
        """``receive``, for callers that want only the replies."""
        return (await self.receive(inbound)).replies

    async def receive(self, inbound: Inbound) -> Result:
        """Store the message, answer it (or wait while the chat's holder does) and
        return its replies. The same message id again returns the same replies, without
        a second turn."""
        lang = normalise_language(inbound.client_language) or DEFAULT_LANGUAGE
        owner = _owner()

        def store_and_lease(session: Session) -> tuple[Receipt, Pending | None]:
            receipt = inbox.store_inbound(
                session, inbound=inbound, key=self._key, reply_later=False
            )
            if receipt.status in FINAL:
                return receipt, None
            return receipt, self._lease_and_next(session, receipt.identity_id, owner)

        try:
            receipt, first = await self._db(store_and_lease)
            if not receipt.duplicate:
                metrics.MESSAGES_RECEIVED.labels(inbound.channel).inc()
        except SQLAlchemyError:
            # Not stored: say so, rather than promise an answer to a message we do not have.
            log.exception("database failure while storing a %s message", inbound.channel)
            return Result(None, "not_saved", [say(lang, texts.NOT_SAVED)])
        try:
            if first is not None:
                await self._drain(receipt.identity_id, owner, first, until=receipt.message_id)
            return await self._wait_for(receipt, lang)
        except SQLAlchemyError:
            # Stored, but the database failed afterwards: the message stays "received",
            # and the sweeper answers it once the database is back.
            log.exception("database failure while handling a %s message", inbound.channel)
            return Result(receipt.message_id, "received", [say(lang, texts.UNAVAILABLE)])

    async def accept(self, inbound: Inbound) -> Receipt:
        """Store the message, to be answered through the outbox (``answer_later``).
        Raises the database's error: the channel must not acknowledge the message then,
        so that the platform delivers it again."""
        receipt = await self._db(
            lambda session: inbox.store_inbound(
                session, inbound=inbound, key=self._key, reply_later=True
            )
        )
        if not receipt.duplicate:
            metrics.MESSAGES_RECEIVED.labels(inbound.channel).inc()
        return receipt

    async def answer_later(self, receipt: Receipt) -> None:
        """Answer an accepted message (or make sure its chat's holder does)."""
        if receipt.duplicate and receipt.status in FINAL:
            return
        deadline = time.monotonic() + self.timing.wait_s
        try:
            while True:
                changed = self._changed(receipt.identity_id)
                await self._try_drain(receipt.identity_id, until=receipt.message_id)
                if self._results.pop(receipt.message_id, None) is not None:
                    return  # handled here, just now: no need to ask the database
                status = await self._db(lambda s: inbox.status_of(s, message_id=receipt.message_id))
                if status is None or status in FINAL or time.monotonic() > deadline:
                    # Past the deadline a holder in another process still has it; if
                    # that process died, the sweeper answers it.
                    return
                await _wait(changed, self.timing.poll_s)
        except SQLAlchemyError:
            log.exception("database failure while answering message %s", receipt.message_id)

    async def recover(self) -> int:
        """Answer the messages that a stopped process left waiting (the sweeper job):
        through the outbox, since no request waits for them any more."""
        now = utcnow()
        left = await self._db(
            lambda s: inbox.orphans(s, older_than=now - self.timing.orphan_after, now=now)
        )
        chats: dict[int, list[int]] = {}
        for orphan in left:
            chats.setdefault(orphan.identity_id, []).append(orphan.message_id)
        for identity_id, message_ids in chats.items():

            def reply_later(session: Session, ids: list[int] = message_ids) -> None:
                inbox.mark_reply_later(session, message_ids=ids)

            await self._db(reply_later)
            await self._try_drain(identity_id)
        return len(left)

    # Turns, one chat at a time -----------------------------------------------------------

    def _lease_and_next(self, session: Session, identity_id: int, owner: str) -> Pending | None:
        """Take the chat's lease and its oldest waiting message; None when someone else
        holds the lease (or, having taken it, when nothing waits: then it is released)."""
        if not inbox.try_lease(
            session, identity_id=identity_id, owner=owner, ttl=self.timing.lease, now=utcnow()
        ):
            return None
        first = inbox.next_pending(session, identity_id=identity_id)
        if first is None:
            inbox.release_lease(session, identity_id=identity_id, owner=owner)
        return first

    async def _try_drain(self, identity_id: int, *, until: int | None = None) -> None:
        owner = _owner()
        first = await self._db(lambda s: self._lease_and_next(s, identity_id, owner))
        if first is not None:
            await self._drain(identity_id, owner, first, until=until)

    async def _drain(
        self, identity_id: int, owner: str, first: Pending, *, until: int | None
    ) -> None:
        """With the chat's lease: answer its waiting messages, oldest first, until the
        message ``until`` is answered (the caller's own: a request does not wait for
        the messages sent after it; their own requests take the lease next) or, with
        None, until none is left. The lease is released in the last turn's transaction."""
        pending: Pending | None = first
        # Every log line of these turns names its conversation (Rasa's sender id); the
        # caller's own context comes back when the drain ends.
        context = CONVERSATION.set(first.sender)
        try:
            while pending is not None:
                current = pending
                CONVERSATION.set(current.sender)
                outcome = await self._decide(current)
                last = current.message_id == until

                def finish(
                    session: Session, p: Pending = current, o: Outcome = outcome, stop: bool = last
                ) -> Step:
                    return self._finish(session, p, o, owner, stop=stop)

                step = await self._db(finish)
                if step.handled is not None:
                    _count(current, step, reply_later=current.reply_later)
                pending = step.following
                self._notify(identity_id)
                if step.enqueued:
                    self.on_outbox()
        except BaseException:
            # The lease is given back so that the chat is not blocked until it expires;
            # the message stays "received" for a waiter or the sweeper to try again.
            try:
                await self._db(
                    lambda s: inbox.release_lease(s, identity_id=identity_id, owner=owner)
                )
            except SQLAlchemyError:
                log.warning("chat %s: lease not released; it expires by itself", identity_id)
            self._notify(identity_id)
            raise
        finally:
            CONVERSATION.reset(context)

    async def _decide(self, pending: Pending) -> Outcome:
        """What the chain makes of one message."""
        lang = (
            pending.chosen
            or pending.language
            or normalise_language(pending.client_language)
            or DEFAULT_LANGUAGE
        )
        if utcnow() - pending.created_at > self.timing.max_age:
            # Too old to answer as if nothing happened: say so, and ask again.
            return Outcome("failed", [say(lang, texts.LATE_APOLOGY)], language=lang)
        cleaned = clean(pending.text, max_chars=self._max_chars)
        turn = Turn(
            message_id=pending.message_id,
            identity_id=pending.identity_id,
            channel=pending.channel,
            kind=pending.kind,
            text=cleaned.text,
            truncated=cleaned.truncated,
            has_words=cleaned.has_words,
            sender=pending.sender,
            chosen=pending.chosen,
            conversation_language=pending.language,
            client_language=pending.client_language,
            awaiting=pending.awaiting,
            mode=pending.mode,
            attachment=Attachment.from_json(pending.attachment),
            received_at=pending.created_at,
            language=lang,
        )
        try:
            for handler in self._handlers:
                outcome = await handler(turn)
                if outcome is not None:
                    return outcome
            return await self._last(turn)
        except SQLAlchemyError:
            raise  # the database is down: the message waits for it (see receive)
        except Exception:
            # A bug in a handler must not block the chat's later messages.
            log.exception("message %s: a handler failed", pending.message_id)
            return Outcome("failed", [say(turn.language, texts.NOT_ANSWERED)], language=lang)

    def _finish(
        self, session: Session, pending: Pending, outcome: Outcome, owner: str, *, stop: bool
    ) -> Step:
        """Store one message's outcome and replies, in one transaction with the chat's
        state; return the chat's next waiting message, or (none, or ``stop``) release
        the lease."""
        identity_id = pending.identity_id
        identity = inbox.renew_lease(
            session, identity_id=identity_id, owner=owner, ttl=self.timing.lease, now=utcnow()
        )
        if identity is None:
            # Held so long that the lease expired and another process took the chat:
            # it answers this message; storing ours too would answer it twice.
            log.warning("message %s: lease lost, its outcome dropped", pending.message_id)
            return Step(None, False)
        replies = outcome.replies
        msg = (
            session.get(Message, pending.message_id, options=[joinedload(Message.conversation)])
            if outcome.transcript_kept
            else None
        )
        conversation_id = None
        if msg is not None and msg.status == "received":
            if outcome.by_bot and identity.mode != BOT:
                # A person took the chat while Rasa was thinking: the bot stays silent.
                outcome = Outcome("with_staff", language=outcome.language, report=outcome.report)
                replies = []
            self._store_outcome(session, msg, identity, outcome)
            conversation_id = msg.conversation_id
            replies = replies + self._handoff(session, identity, outcome)
        elif outcome.transcript_kept:
            log.warning("message %s was handled already; outcome dropped", pending.message_id)
            replies = []
        # Else "forget me": the message and the transcript are gone, and the confirmation
        # is still owed to the user (with no copy in a transcript).
        enqueued = False
        for i, out in enumerate(replies):
            buttons = [{"title": b.title, "payload": b.payload} for b in out.buttons]
            if pending.reply_later:
                outbox.to_chat(
                    session,
                    key=f"reply:{pending.message_id}:{i}",
                    identity=identity,
                    kind="reply",
                    text=out.text,
                    language=out.language,
                    buttons=buttons,
                    reply_to=pending.message_id if conversation_id else None,
                    conversation_id=conversation_id,
                )
                enqueued = True
            elif conversation_id is not None:
                conversations.record_outbound(
                    session,
                    conversation_id=conversation_id,
                    text=out.text,
                    language=out.language,
                    reply_to=pending.message_id,
                    buttons=buttons,
                )
        self._remember(pending.message_id, outcome.status, None if enqueued else replies)
        following = None if stop else inbox.next_pending(session, identity_id=identity_id)
        if following is None:
            inbox.release_lease(session, identity_id=identity_id, owner=owner)
        handled = None
        if conversation_id is not None:
            language = outcome.language or identity.language or DEFAULT_LANGUAGE
            handled = (outcome.status, language, len(replies))
        return Step(following, enqueued, handled)

    def _handoff(
        self, session: Session, identity: ChatIdentity, outcome: Outcome
    ) -> list[Outbound]:
        """The chat goes to a person, or comes back: what the user is told."""
        lang = outcome.language or identity.language or DEFAULT_LANGUAGE
        if outcome.start_handoff is not None:
            handoff = handoffs.request(
                session, identity=identity, reason=outcome.start_handoff, language=lang
            )
            if handoff is None:
                return []  # a person has the chat already
            return [
                notices.queued(
                    session, handoff=handoff, lang=lang, minutes_per_chat=self._minutes_per_chat
                )
            ]
        if outcome.end_handoff:
            handoffs.user_ends(session, identity=identity)
            return [notices.ended_by_user(lang)]
        return []

    @staticmethod
    def _store_outcome(
        session: Session, msg: Message, identity: ChatIdentity, outcome: Outcome
    ) -> None:
        conv = msg.conversation
        msg.status = outcome.status
        if outcome.language is not None:
            msg.language = outcome.language
            # Only a choice or a detection may change the conversation's language: one
            # taken from the conversation itself must not undo a switch.
            if outcome.chosen or outcome.settles or conv.language is None:
                conv.language = identity.language = outcome.language
            identity.language_chosen = identity.language_chosen or outcome.chosen
        report = outcome.report
        if report is not None:
            if report.redact:
                # An answer to an identity question (card number, date of birth):
                # compared by the action server, never kept in the transcript.
                msg.text = conversations.REDACTED
            msg.intent = report.intent
            msg.confidence = report.confidence
            msg.answer_language = report.answer_language
            identity.awaiting = report.awaiting

    # Waiting for a reply ----------------------------------------------------------------

    async def _wait_for(self, receipt: Receipt, lang: str) -> Result:
        """The message's replies once it is handled, here or by another process; after
        ``wait_s`` the replies go to the outbox instead and the caller is told so. Replies
        that went to the outbox are never returned here too: they would be shown twice."""
        deadline = time.monotonic() + self.timing.wait_s
        mid, dup = receipt.message_id, receipt.duplicate
        while True:
            changed = self._changed(receipt.identity_id)
            if mid in self._results:
                status, replies = self._results.pop(mid)
                if replies is None:
                    return Result(mid, status, [], dup, later=True)
                return Result(mid, status, replies, dup)
            state = await self._db(lambda s: inbox.state_of(s, message_id=mid))
            if state is None:
                return Result(mid, "forgotten", [], dup)
            status, later = state
            if status in FINAL:
                if later:
                    return Result(mid, status, [], dup, later=True)
                replies = await self._db(lambda s: _stored_replies(s, mid))
                return Result(mid, status, replies, dup)
            if time.monotonic() > deadline:
                if await self._db(lambda s: inbox.reply_later_if_waiting(s, message_id=mid)):
                    notice = [say(lang, texts.STILL_WORKING)]
                    return Result(mid, "received", notice, dup, later=True)
                continue  # handled just now: its replies are stored
            await _wait(changed, self.timing.poll_s)
            await self._try_drain(receipt.identity_id, until=mid)

    def _changed(self, identity_id: int) -> asyncio.Event:
        """Set when a turn of this chat ends in this process."""
        event = self._wakeups.get(identity_id)
        if event is None:
            event = self._wakeups[identity_id] = asyncio.Event()
        return event

    def _notify(self, identity_id: int) -> None:
        event = self._wakeups.pop(identity_id, None)
        if event is not None:
            event.set()

    def _remember(self, message_id: int, status: str, replies: list[Outbound] | None) -> None:
        """A handled message's replies (None: they went through the outbox), for a request
        of this process that waits for them."""
        self._results[message_id] = (status, replies)
        while len(self._results) > 512:  # results no one in this process waited for
            self._results.popitem(last=False)


def _count(pending: Pending, step: Step, *, reply_later: bool) -> None:
    assert step.handled is not None
    status, language, replies = step.handled
    metrics.MESSAGES_HANDLED.labels(pending.channel, language, status).inc()
    waited = (utcnow() - pending.created_at).total_seconds()
    metrics.REPLY_SECONDS.labels(pending.channel).observe(max(0.0, waited))
    if replies and not reply_later:
        metrics.REPLIES.labels(pending.channel, language, "direct").inc(replies)


def _owner() -> str:
    return uuid.uuid4().hex


async def _wait(event: asyncio.Event, timeout: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(event.wait(), timeout)


def _stored_replies(session: Session, message_id: int) -> list[Outbound]:
    return [
        Outbound(
            text=m.text,
            language=m.language or DEFAULT_LANGUAGE,
            buttons=tuple(
                Button(title=str(b.get("title", "")), payload=str(b.get("payload", "")))
                for b in m.buttons or []
                if isinstance(b, dict)
            ),
        )
        for m in inbox.replies_to(session, message_id=message_id)
    ]
