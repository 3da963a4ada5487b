"""The local web chat: a page and a small JSON API, served by the gateway.

A browser gets an opaque session cookie on its first message; that session is the chat
identity. The page shows the user's own text with textContent and the assistant's
replies as the server-rendered, escaped HTML of bot.render.
"""

from __future__ import annotations

import html
import json
import re
import secrets
from dataclasses import dataclass
from pathlib import Path

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from bot import texts
from bot.core import Assistant
from bot.i18n import DEFAULT_LANGUAGE, gettext, normalise_language, text_direction
from bot.messages import Inbound, Kind, Outbound
from bot.render import to_html

SESSION_COOKIE = "expatbot_session"
_SESSION_RE = re.compile(r"^[A-Za-z0-9_-]{16,64}$")
MAX_BODY_BYTES = 64 * 1024
PAGE = Path(__file__).resolve().parent.parent / "static" / "webchat.html"


@dataclass
class WebChat:
    assistant: Assistant
    name: str = "webchat"

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
        raw = await request.body()
        if len(raw) > MAX_BODY_BYTES:
            return JSONResponse({"error": "message too large"}, status_code=413)
        try:
            data = json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            return JSONResponse({"error": "body must be JSON"}, status_code=400)
        if not isinstance(data, dict) or not isinstance(data.get("text", ""), str):
            return JSONResponse({"error": 'expected {"text": string}'}, status_code=400)
        session = request.cookies.get(SESSION_COOKIE, "")
        new_session = not _SESSION_RE.match(session)
        if new_session:
            session = secrets.token_urlsafe(24)
        kind: Kind = "button" if data.get("button") else "text"
        lang_hint = _accept_language(request.headers.get("accept-language", ""))
        replies = await self.assistant.handle(
            Inbound(
                channel=self.name,
                external_id=session,
                text=data.get("text", ""),
                kind=kind,
                client_language=lang_hint,
            )
        )
        resp = JSONResponse({"replies": self.reply_json(replies)})
        if new_session:
            resp.set_cookie(
                SESSION_COOKIE, session, httponly=True, samesite="strict", max_age=90 * 86400
            )
        return resp

    def routes(self) -> list[Route]:
        return [
            Route("/", self.page, methods=["GET"]),
            Route("/api/webchat/messages", self.post_message, methods=["POST"]),
        ]


def _attr(text: str) -> str:
    return html.escape(text, quote=True)


def _accept_language(header: str) -> str | None:
    """The first supported language of an Accept-Language header."""
    for part in header.split(","):
        lang = normalise_language(part.split(";", 1)[0].strip())
        if lang:
            return lang
    return None
