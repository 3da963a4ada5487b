"""The local web chat: a page, a small JSON API and an event stream, served by the gateway.

A browser gets an opaque session cookie on its first message, issued by the server
(bot.channels.webchat_sessions); that session is the chat identity. Each message carries
an id the page makes (``"id"``): a message sent again after a network error is stored
and answered once, and the second request gets the same replies.

The direct reply comes back in the response. Everything else for the chat (reminders,
a reply that took longer than the request waited, later: staff replies) is in the
outbox, and the open page collects it from ``GET /api/webchat/events``, a stream of
Server-Sent Events whose ids are the outbox's row ids: after a reconnect (the browser
sends Last-Event-ID) or a reload (the page sends ``?after=``) it gets what it missed.

Photos and documents for a complaint are posted one per request to
``POST /api/webchat/upload`` (the raw bytes, ``application/octet-stream``; the page's id
in ``X-Message-Id``, the file's name URI-encoded in ``X-File-Name``): put aside unread
(bot.tickets.evidence's quarantine) and handled as a message with an attachment, like a
Telegram photo: checked by content, kept or refused with a reason in the reply. A file
over the limit is not read at all; it is still a message, answered with the limit.

The page shows the user's own text with textContent and the assistant's replies as the
server-rendered, escaped HTML of bot.answers.render.
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import json
import re
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from sqlalchemy import select
from sqlalchemy.orm import Session
from sse_starlette import EventSourceResponse, ServerSentEvent
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from bot import texts
from bot.answers.render import to_html
from bot.channels import web_security, webchat_sessions
from bot.channels.http_body import read_body
from bot.db import conversations, in_transaction
from bot.db.models import ChatIdentity, utcnow
from bot.delivery import outbox
from bot.delivery.mailbox import Mailbox
from bot.delivery.outbox import Item
from bot.i18n import DEFAULT_LANGUAGE, gettext, normalise_language, text_direction
from bot.messages import Attachment, AttachmentTooBig, Inbound, Kind, Outbound
from bot.pipeline.assistant import Assistant
from bot.settings import get_settings
from bot.tickets import evidence

SESSION_COOKIE = "expatbot_session"
MAX_BODY_BYTES = 64 * 1024
PAGE = Path(__file__).resolve().parent.parent / "static" / "webchat.html"
# The page's message ids: a UUID, or any short token of these characters.
_MESSAGE_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")  # fullmatch: "$" would allow a final "\n"
# A comment line on an idle stream, so that proxies keep it open.
PING_S = 15


def reply_json(text: str, language: str, buttons: Any) -> dict[str, object]:
    return {
        "html": to_html(text),
        "language": language,
        "dir": text_direction(language),
        "buttons": [{"title": t, "payload": p} for t, p in buttons],
    }


def outbound_json(reply: Outbound) -> dict[str, object]:
    return reply_json(reply.text, reply.language, [(b.title, b.payload) for b in reply.buttons])


@dataclass
class WebChat:
    assistant: Assistant
    # Where open pages learn of new outbox rows; without one the stream polls by itself.
    mailbox: Mailbox | None = None
    name: str = webchat_sessions.CHANNEL
    # Production serves the chat over HTTPS only: the cookie must never travel in clear.
    secure_cookies: bool = False

    def __post_init__(self) -> None:
        # The pipeline takes uploaded files from here (bot.messages.Fetcher).
        self.assistant.fetchers[self.name] = self

    def reply_json(self, replies: list[Outbound]) -> list[dict[str, object]]:
        return [outbound_json(r) for r in replies]

    def deliver(self, item: Item) -> ServerSentEvent:
        """An outbox row as the page shows it: one event of the stream."""
        data = {"kind": item.kind, **reply_json(item.text, item.language, item.buttons)}
        return ServerSentEvent(data=json.dumps(data, ensure_ascii=False), id=str(item.id))

    async def page(self, request: Request) -> Response:
        lang = _accept_language(request.headers.get("accept-language", "")) or DEFAULT_LANGUAGE
        body = PAGE.read_text(encoding="utf-8")
        for key, msgid in (
            ("TITLE", texts.WEBCHAT_TITLE),
            ("PLACEHOLDER", texts.WEBCHAT_PLACEHOLDER),
            ("SEND", texts.WEBCHAT_SEND),
            ("ATTACH", texts.WEBCHAT_ATTACH),
        ):
            body = body.replace("{{" + key + "}}", _attr(gettext(lang, msgid)))
        body = body.replace("{{LANG}}", lang).replace("{{DIR}}", text_direction(lang))
        return HTMLResponse(body)

    async def post_message(self, request: Request) -> Response:
        if (refused := web_security.refuse_unless_same_origin_json(request)) is not None:
            return refused
        raw = await read_body(request, limit=MAX_BODY_BYTES)
        if raw is None:
            return JSONResponse({"error": "message too large"}, status_code=413)
        try:
            data = json.loads(raw)
        except (ValueError, UnicodeDecodeError, RecursionError):
            # RecursionError: arrays nested thousands deep are not a message either.
            return JSONResponse({"error": "body must be JSON"}, status_code=400)
        if not isinstance(data, dict) or not isinstance(data.get("text", ""), str):
            return JSONResponse({"error": 'expected {"text": string}'}, status_code=400)
        message_id = data.get("id")
        if message_id is None:
            # A client without ids (a script): every request is a new message.
            message_id = uuid.uuid4().hex
        elif not isinstance(message_id, str) or not _MESSAGE_ID.fullmatch(message_id):
            return JSONResponse(
                {"error": '"id" must be 1-64 letters, digits, "-" or "_"'}, status_code=400
            )
        token = request.cookies.get(SESSION_COOKIE, "")
        fresh = not await self._db(lambda s: webchat_sessions.honoured(s, token=token))
        if fresh:
            token = webchat_sessions.new_token()
        kind: Kind = "button" if data.get("button") else "text"
        started = utcnow()
        result = await self.assistant.receive(
            Inbound(
                channel=self.name,
                external_id=webchat_sessions.external_id(token),
                message_id=message_id,
                text=data.get("text", ""),
                kind=kind,
                client_language=_accept_language(request.headers.get("accept-language", "")),
            )
        )
        body: dict[str, object] = {"id": message_id, "replies": self.reply_json(result.replies)}
        if result.later:
            body["pending"] = True  # the answer comes through the event stream
        resp = JSONResponse(body)
        rotated = await self._db(
            lambda s: webchat_sessions.rotate_if_linked_since(s, token=token, since=started)
        )
        if fresh or rotated:
            self._set_cookie(resp, rotated or token)
        return resp

    async def upload(self, request: Request) -> Response:
        refused = web_security.refuse_unless_same_origin_json(
            request, media_type="application/octet-stream"
        )
        if refused is not None:
            return refused
        message_id = request.headers.get("x-message-id", "")
        if not _MESSAGE_ID.fullmatch(message_id):
            return JSONResponse(
                {"error": 'X-Message-Id must be 1-64 letters, digits, "-" or "_"'}, status_code=400
            )
        token = request.cookies.get(SESSION_COOKIE, "")
        if not await self._db(lambda s: webchat_sessions.honoured(s, token=token)):
            # A file is never a chat's first message: the page starts its session first.
            return JSONResponse({"error": "no chat session"}, status_code=401)
        name = unquote(request.headers.get("x-file-name", ""))[:200] or None
        limit = get_settings().evidence_max_bytes
        raw = await read_body(request, limit=limit)
        if raw is None:
            # Too big: not read, not kept; still a message, answered with the limit.
            declared = request.headers.get("content-length", "")
            size = int(declared) if declared.isdigit() else limit + 1
            attachment = Attachment(ref="", name=name, size=max(size, limit + 1))
        else:
            try:
                ref = await asyncio.to_thread(evidence.quarantine, raw)
            except evidence.EvidenceRefused:
                ref = ""  # empty: the pipeline says it could not be read
            attachment = Attachment(ref=ref, name=name, size=len(raw))
        image = (name or "").lower().endswith((".jpg", ".jpeg", ".png", ".webp", ".gif"))
        result = await self.assistant.receive(
            Inbound(
                channel=self.name,
                external_id=webchat_sessions.external_id(token),
                message_id=message_id,
                text="",
                kind="photo" if image else "file",
                client_language=_accept_language(request.headers.get("accept-language", "")),
                attachment=attachment,
            )
        )
        body: dict[str, object] = {"id": message_id, "replies": self.reply_json(result.replies)}
        if result.later:
            body["pending"] = True
        return JSONResponse(body)

    async def fetch(self, attachment: Attachment, *, max_bytes: int) -> bytes:
        """The bytes the upload put aside (taken once: the quarantine is emptied)."""
        if attachment.size is not None and attachment.size > max_bytes:
            raise AttachmentTooBig(attachment.size)
        if not attachment.ref:
            return b""  # refused as empty by the evidence check
        data = await asyncio.to_thread(evidence.take_quarantined, attachment.ref)
        if data is None:
            raise OSError("the upload is no longer there")
        return data

    async def start_session(self, request: Request) -> Response:
        """The page asks for its session before its first message, so that a first
        message sent again after a network error carries the session it was stored
        under (and is answered once). Nothing changes when the session is live."""
        if (refused := web_security.refuse_unless_same_origin_json(request)) is not None:
            return refused
        token = request.cookies.get(SESSION_COOKIE, "")
        lang = _accept_language(request.headers.get("accept-language", ""))

        def ensure(session: Session) -> str | None:
            if webchat_sessions.honoured(session, token=token):
                return None
            fresh = webchat_sessions.new_token()
            conversations.get_or_create_identity(
                session,
                channel=self.name,
                external_id=webchat_sessions.external_id(fresh),
                client_language=lang,
            )
            return fresh

        fresh = await self._db(ensure)
        resp = Response(status_code=204)
        if fresh is not None:
            self._set_cookie(resp, fresh)
        return resp

    def _set_cookie(self, resp: Response, token: str) -> None:
        resp.set_cookie(
            SESSION_COOKIE,
            token,
            httponly=True,
            samesite="strict",
            secure=self.secure_cookies,
            max_age=int(webchat_sessions.SESSION_IDLE.total_seconds()),
        )

    async def events(self, request: Request) -> Response:
        """The open page's stream of what the outbox holds for its chat."""
        token = request.cookies.get(SESSION_COOKIE, "")

        def identity_of(session: Session) -> int | None:
            if not webchat_sessions.honoured(session, token=token):
                return None
            found: int | None = session.scalar(
                select(ChatIdentity.id).where(
                    ChatIdentity.channel == self.name,
                    ChatIdentity.external_id == webchat_sessions.external_id(token),
                )
            )
            return found

        identity_id = await self._db(identity_of)
        if identity_id is None:
            # No chat yet: 204 tells EventSource not to reconnect; the page opens the
            # stream again once its first message has made the session.
            return Response(status_code=204)
        after = _last_seen(request)
        return EventSourceResponse(self._stream(identity_id, after), ping=PING_S)

    async def _stream(self, identity_id: int, after: int | None) -> AsyncIterator[ServerSentEvent]:
        while True:
            woken = self.mailbox.event(identity_id) if self.mailbox else None
            items = await self._collect(identity_id, after)
            for item in items:
                yield self.deliver(item)
            if items:
                after = await self._collected(items)
                continue
            await _wait(woken, timeout=PING_S if woken else 1.0)

    async def _collect(self, identity_id: int, after: int | None) -> list[Item]:
        def collect(session: Session) -> list[Item]:
            return outbox.collect(
                session, identity_id=identity_id, channel=self.name, after_id=after
            )

        result: list[Item] = await self._db(collect)
        return result

    async def _collected(self, items: list[Item]) -> int:
        """Mark rows the page was sent as delivered; the newest one's id."""
        ids = [i.id for i in items]
        await self._db(lambda s: outbox.mark_collected(s, row_ids=ids))
        return max(ids)

    async def _db(self, fn: Any) -> Any:
        return await in_transaction(self.assistant.sessions, fn)

    def routes(self) -> list[Route]:
        return [
            Route("/", self.page, methods=["GET"]),
            Route("/api/webchat/session", self.start_session, methods=["POST"]),
            Route("/api/webchat/messages", self.post_message, methods=["POST"]),
            Route("/api/webchat/upload", self.upload, methods=["POST"]),
            Route("/api/webchat/events", self.events, methods=["GET"]),
        ]


async def _wait(event: asyncio.Event | None, *, timeout: float) -> None:
    if event is None:
        await asyncio.sleep(timeout)
        return
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(event.wait(), timeout)


def _last_seen(request: Request) -> int | None:
    """The newest event the page showed: Last-Event-ID after a reconnect of the same
    EventSource, ``?after=`` after a reload (the page keeps it in sessionStorage)."""
    for value in (request.headers.get("last-event-id"), request.query_params.get("after")):
        value = (value or "").strip()
        # ASCII digits only ("²".isdigit() is true, and int() refuses it), and few enough
        # for the database's integers (SQLite and PostgreSQL refuse larger ones).
        if value.isascii() and value.isdigit() and len(value) <= 18:
            return int(value)
    return None


def _attr(text: str) -> str:
    return html.escape(text, quote=True)


def _accept_language(header: str) -> str | None:
    """The first supported language of an Accept-Language header."""
    for part in header.split(","):
        lang = normalise_language(part.split(";", 1)[0].strip())
        if lang:
            return lang
    return None
