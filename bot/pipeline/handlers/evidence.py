"""Photos and documents for a complaint: kept as evidence while the dispute form is open
(any of its questions), or while the user adds to one of their open tickets.

The file is fetched from its channel (bot.messages.Fetcher), checked by its content and
cleaned of its metadata (bot.tickets.evidence), stored under its hash, and attached to
the chat's draft or ticket (bot.tickets.tickets): at most EVIDENCE_MAX_FILES, the same
message once. An album is acknowledged once. A file sent when the form asked something
else is kept too, and the question is asked again. Anything refused gets its reason.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from bot import texts
from bot.answers.ui import say
from bot.db import conversations, in_transaction
from bot.db.models import ChatIdentity, Ticket
from bot.messages import Attachment, AttachmentTooBig, Button, Fetcher, Outbound
from bot.pipeline.turn import Outcome, Turn
from bot.protocol import (
    AWAITING_TICKET_ADD,
    AWAITING_TICKET_EVIDENCE,
    TICKET_AWAITING_PREFIX,
    TICKET_PAYLOAD,
)
from bot.settings import get_settings
from bot.tickets import evidence, notify, tickets
from bot.tickets.evidence import EvidenceRefused, StoredFile

log = logging.getLogger(__name__)

REFUSALS = {
    "too_big": texts.EVIDENCE_TOO_BIG,
    "empty": texts.EVIDENCE_UNREADABLE,
    "not_accepted": texts.EVIDENCE_NOT_ACCEPTED,
    "unreadable": texts.EVIDENCE_UNREADABLE,
    "too_many": texts.EVIDENCE_TOO_MANY,
    "final": texts.TICKET_CLOSED_FOR_INPUT,
    "unavailable": texts.EVIDENCE_UNAVAILABLE,
}
MEDIA = ("photo", "file")
# Every question of the dispute form offers Cancel with this payload.
FORM_QUESTION_MARKER = "/deny"


def ticket_id_awaited(awaiting: str | None) -> int | None:
    """The ticket the user is adding to ("ticket_add:<id>"), or None."""
    if not awaiting or not awaiting.startswith(AWAITING_TICKET_ADD):
        return None
    tail = awaiting[len(AWAITING_TICKET_ADD) :]
    return int(tail) if tail.isascii() and tail.isdigit() else None


@dataclass(frozen=True)
class _Kept:
    """What attaching the file came to: refused (a REFUSALS key), or kept."""

    refused: str | None
    first_of_album: bool = True
    number: str | None = None
    question: Outbound | None = None
    status: str = ""


class Evidence:
    def __init__(self, sessions: sessionmaker[Session], fetchers: Mapping[str, Fetcher]) -> None:
        self._sessions = sessions
        self._fetchers = fetchers

    async def __call__(self, turn: Turn) -> Outcome | None:
        awaiting = turn.awaiting or ""
        if turn.kind not in MEDIA or turn.attachment is None:
            return None
        if not awaiting.startswith(TICKET_AWAITING_PREFIX):
            return None
        adding = ticket_id_awaited(awaiting)
        settings = get_settings()
        stored, refused = await self._fetch_and_store(turn.channel, turn.attachment)
        if stored is None:
            kept = _Kept(refused or "unavailable")
        else:
            kept = await in_transaction(
                self._sessions, lambda s: self._attach(s, turn, stored, adding)
            )
            if kept.refused is not None:
                await self._forget_file(stored.sha256)
        lang = turn.language
        params: dict[str, Any] = {
            "mb": settings.evidence_max_bytes // (1024 * 1024),
            "files": settings.evidence_max_files,
            "number": kept.number or "",
            "status": notify.status_label(lang, kept.status) if kept.status else "",
        }
        replies: list[Outbound] = []
        if kept.refused is not None:
            replies.append(say(lang, REFUSALS[kept.refused], **params))
        elif kept.first_of_album:
            if adding is not None:
                done = Button(say(lang, texts.DONE).text, f"{TICKET_PAYLOAD}{kept.number} done")
                replies.append(say(lang, texts.TICKET_ADDED, (done,), **params))
            elif awaiting == AWAITING_TICKET_EVIDENCE:
                done = Button(say(lang, texts.DONE).text, "done")
                replies.append(say(lang, texts.EVIDENCE_RECEIVED, (done,)))
            else:
                replies.append(say(lang, texts.EVIDENCE_KEPT))
        if kept.question is not None and (kept.refused is not None or kept.first_of_album):
            replies.append(kept.question)
        if kept.refused is not None:
            return Outcome("rejected", replies, language=lang, settles=turn.settles)
        return Outcome("answered", replies, language=lang, settles=turn.settles)

    async def _fetch_and_store(
        self, channel: str, attachment: Attachment
    ) -> tuple[StoredFile | None, str | None]:
        limit = get_settings().evidence_max_bytes
        if attachment.size is not None and attachment.size > limit:
            return None, "too_big"
        fetcher = self._fetchers.get(channel)
        if fetcher is None:
            return None, "unavailable"
        try:
            data = await fetcher.fetch(attachment, max_bytes=limit)
        except AttachmentTooBig:
            return None, "too_big"
        except Exception:
            # The platform's or the disk's trouble: the user is asked to send it again.
            log.warning("attachment not fetched from %s", channel, exc_info=True)
            return None, "unavailable"
        try:
            # Decoding and re-encoding an image blocks: off the event loop.
            stored = await asyncio.to_thread(evidence.store, data, name=attachment.name)
        except EvidenceRefused as refused:
            return None, refused.code
        return stored, None

    async def _forget_file(self, sha256: str) -> None:
        """A file stored but not attached: deleted unless another ticket holds it."""
        orphans = await in_transaction(
            self._sessions, lambda s: tickets.unreferenced(s, hashes=[sha256])
        )
        for sha in orphans:
            evidence.delete(sha)

    def _attach(
        self, session: Session, turn: Turn, stored: StoredFile, adding: int | None
    ) -> _Kept:
        if adding is not None:
            ticket = session.get(Ticket, adding)
            identity = session.get(ChatIdentity, turn.identity_id)
            if (
                ticket is None
                or identity is None
                or not tickets.owns(session, identity=identity, ticket=ticket)
            ):
                return _Kept("unavailable")
        else:
            found = tickets.draft_of(session, identity_id=turn.identity_id)
            if found is None:
                return _Kept("unavailable")
            ticket = found
        question = None
        if adding is None and turn.awaiting != AWAITING_TICKET_EVIDENCE:
            asked = conversations.last_question(
                session, identity_id=turn.identity_id, marker=FORM_QUESTION_MARKER
            )
            if asked is not None:
                question = Outbound(
                    text=asked.text,
                    language=asked.language or turn.language,
                    buttons=tuple(
                        Button(str(b.get("title", "")), str(b["payload"]))
                        for b in asked.buttons or []
                        if isinstance(b, dict) and b.get("payload")
                    ),
                )
        result = tickets.add_evidence(
            session,
            ticket=ticket,
            sha256=stored.sha256,
            mime=stored.mime,
            size=stored.size,
            name=stored.name,
            message_id=turn.message_id,
            album=turn.attachment.album if turn.attachment else None,
        )
        number = ticket.number
        if isinstance(result, str):
            return _Kept(result, number=number, question=question, status=ticket.status)
        return _Kept(None, result.first_of_album, number=number, question=question)
