"""The local web chat: a page and a small JSON API, served by the gateway.

A browser gets an opaque session cookie on its first message, issued by the server
(bot.channels.webchat_sessions); that session is the chat identity. The page shows the
user's own text with textContent and the assistant's replies as the server-rendered,
escaped HTML of bot.answers.render.
"""

from __future__ import annotations

import asyncio
import html
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from sqlalchemy.orm import Session
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from bot import texts
from bot.answers.render import to_html
from bot.channels import web_security, webchat_sessions
from bot.db import transaction
from bot.db.models import utcnow
from bot.i18n import DEFAULT_LANGUAGE, gettext, normalise_language, text_direction
from bot.messages import Inbound, Kind, Outbound
from bot.pipeline.assistant import Assistant

SESSION_COOKIE = "expatbot_session"
MAX_BODY_BYTES = 64 * 1024
T = TypeVar("T")
PAGE = Path(__file__).resolve().parent.parent / "static" / "webchat.html"


@dataclass
class WebChat:
    assistant: Assistant
    name: str = webchat_sessions.CHANNEL
    # Production serves the chat over HTTPS only: the cookie must never travel in clear.
    secure_cookies: bool = False

    def reply_json(self, replies: list[Outbound]) -> list[dict[str, object]]:
        return [
            {
                "html": to_html(r.text),
                "language": r.language,
                "dir": text_direction(r.language),
                "buttons": [{"title": b.title, "payload": b.payload} for b in r.buttons],
            }
            for r in replies
        ]

    async def page(self, request: Request) -> Response:
        lang = _accept_language(request.headers.get("accept-language", "")) or DEFAULT_LANGUAGE
        body = PAGE.read_text(encoding="utf-8")
        for key, msgid in (
            ("TITLE", texts.WEBCHAT_TITLE),
            ("PLACEHOLDER", texts.WEBCHAT_PLACEHOLDER),
            ("SEND", texts.WEBCHAT_SEND),
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
        token = request.cookies.get(SESSION_COOKIE, "")
        fresh = not await self._db(lambda s: webchat_sessions.honoured(s, token=token))
        if fresh:
            token = webchat_sessions.new_token()
        kind: Kind = "button" if data.get("button") else "text"
        lang_hint = _accept_language(request.headers.get("accept-language", ""))
        started = utcnow()
        replies = await self.assistant.handle(
            Inbound(
                channel=self.name,
                external_id=webchat_sessions.external_id(token),
                text=data.get("text", ""),
                kind=kind,
                client_language=lang_hint,
            )
        )
        resp = JSONResponse({"replies": self.reply_json(replies)})
        rotated = await self._db(
            lambda s: webchat_sessions.rotate_if_linked_since(s, token=token, since=started)
        )
        if fresh or rotated:
            resp.set_cookie(
                SESSION_COOKIE,
                rotated or token,
                httponly=True,
                samesite="strict",
                secure=self.secure_cookies,
                max_age=int(webchat_sessions.SESSION_IDLE.total_seconds()),
            )
        return resp

    async def _db(self, fn: Callable[[Session], T]) -> T:
        def run() -> T:
            with transaction(self.assistant.sessions) as session:
                return fn(session)

        return await asyncio.to_thread(run)

    def routes(self) -> list[Route]:
        return [
            Route("/", self.page, methods=["GET"]),
            Route("/api/webchat/messages", self.post_message, methods=["POST"]),
        ]


async def read_body(request: Request, *, limit: int) -> bytes | None:
    """The request's body, or None as soon as it is known to exceed ``limit`` bytes:
    from Content-Length before anything is read, or while a body without one (chunked)
    streams in, so that a huge body is never held in memory."""
    declared = request.headers.get("content-length", "")
    if declared.strip().isdigit() and int(declared) > limit:
        return None
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            return None
    return bytes(body)


def _attr(text: str) -> str:
    return html.escape(text, quote=True)


def _accept_language(header: str) -> str | None:
    """The first supported language of an Accept-Language header."""
    for part in header.split(","):
        lang = normalise_language(part.split(";", 1)[0].strip())
        if lang:
            return lang
    return None
