"""Every console route goes through ``guard``: a logged-in staff member, a role that may
use it, and on every POST the session's CSRF token (form field ``csrf`` or header
``X-CSRF-Token``). The route table (bot.staff.console.pages.ROUTES) names each route's
permission, so that a test can call every one of them without a login, with a wrong
role and without the token."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from sqlalchemy.orm import Session, sessionmaker
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from bot.db import in_transaction
from bot.db.models import StaffUser
from bot.staff import accounts, sessions
from bot.staff import texts as staff_texts
from bot.staff.console.templating import render, staff_gettext

Handler = Callable[[Request], Awaitable[Response]]
CSRF_FIELD = "csrf"
CSRF_HEADER = "x-csrf-token"


@dataclass(frozen=True)
class Staff:
    """Who is asking, for a route's handler (request.state.staff)."""

    id: int
    name: str
    role: str
    language: str
    csrf: str

    def may(self, permission: str) -> bool:
        return self.role in accounts.PERMISSIONS[permission]


def wants_json(request: Request) -> bool:
    return "application/json" in request.headers.get("accept", "") or request.url.path.endswith(
        "/live"
    )


def guard(
    sessions_maker: sessionmaker[Session], permission: str | None, handler: Handler
) -> Handler:
    async def endpoint(request: Request) -> Response:
        token = request.cookies.get(sessions.COOKIE, "")

        def load(session: Session) -> Staff | None:
            found = sessions.current(session, token=token)
            if found is None:
                return None
            s: StaffUser = found.staff
            return Staff(s.id, s.name, s.role, s.language, found.csrf_token)

        staff = await in_transaction(sessions_maker, load)
        if staff is None:
            if wants_json(request) or request.method != "GET":
                if request.method == "POST" and not wants_json(request):
                    # A form sent after the session ended: log in again, and come back
                    # (the page keeps what was being typed, bot/staff/static/console.js).
                    back = request.headers.get("referer", "")
                    return RedirectResponse(_login_url(back), status_code=303)
                return JSONResponse({"error": "login required"}, status_code=401)
            return RedirectResponse(_login_url(str(request.url.path)), status_code=303)
        if permission is not None and not staff.may(permission):
            body = render(
                "error.html",
                lang=staff.language,
                staff=staff,
                message=staff_gettext(staff.language, staff_texts.FORBIDDEN),
            )
            return HTMLResponse(body, status_code=403)
        if request.method == "POST":
            given = request.headers.get(CSRF_HEADER)
            if given is None:
                form = await request.form()
                value = form.get(CSRF_FIELD)
                given = value if isinstance(value, str) else None
            if not sessions.csrf_ok(staff.csrf, given):
                body = render(
                    "error.html",
                    lang=staff.language,
                    staff=staff,
                    message=staff_gettext(staff.language, staff_texts.BAD_FORM),
                )
                return HTMLResponse(body, status_code=403)
        request.state.staff = staff
        return await handler(request)

    return endpoint


def _login_url(back: str) -> str:
    path = back.split("://", 1)[-1]
    path = "/" + path.split("/", 1)[1] if "/" in path else ""
    if not path.startswith("/staff") or path.startswith("/staff/login"):
        path = "/staff"
    return "/staff/login?next=" + quote(path, safe="/")


def current_staff(request: Request) -> Staff:
    staff: Staff = request.state.staff
    return staff


def page(request: Request, template: str, *, status: int = 200, **context: Any) -> HTMLResponse:
    staff = current_staff(request)
    body = render(template, lang=staff.language, staff=staff, csrf=staff.csrf, **context)
    return HTMLResponse(body, status_code=status)
