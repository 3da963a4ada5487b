"""/staff/login and /staff/logout.

The login form is protected against cross-site posting by a double-submit token: a
random value in a cookie of its own (SameSite=Strict, httpOnly) and in the form, which
must agree. A failed login is answered after a delay that grows with the name's recent
failures; five in 15 minutes lock the name (bot.staff.login).
"""

from __future__ import annotations

import asyncio
import hmac
import secrets

from sqlalchemy.orm import Session, sessionmaker
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from bot.db import in_transaction
from bot.staff import login, sessions
from bot.staff import texts as staff_texts
from bot.staff.console.templating import render, staff_gettext

LOGIN_COOKIE = "expatbot_staff_login"
MAX_FIELD = 256


def _safe_next(value: str | None) -> str:
    """Only a console page of this site: never an address elsewhere."""
    if value and value.startswith("/staff") and not value.startswith("//") and "\\" not in value:
        return value
    return "/staff"


class LoginPages:
    def __init__(self, sessions_maker: sessionmaker[Session], *, lang: str, secure: bool) -> None:
        self._sessions = sessions_maker
        self._lang = lang  # the console's language before anyone is logged in
        self._secure = secure

    def _form(
        self, request: Request, *, message: str = "", need_code: bool = False, name: str = "",
        status: int = 200,
    ) -> Response:  # fmt: skip
        token = secrets.token_urlsafe(24)
        body = render(
            "login.html",
            lang=self._lang,
            staff=None,
            login_token=token,
            message=message,
            need_code=need_code,
            name=name,
            next=_safe_next(request.query_params.get("next")),
        )
        resp = HTMLResponse(body, status_code=status)
        resp.set_cookie(
            LOGIN_COOKIE, token, httponly=True, samesite="strict", secure=self._secure,
            path="/staff/login", max_age=3600,
        )  # fmt: skip
        return resp

    async def show(self, request: Request) -> Response:
        expired = request.query_params.get("next") not in (None, "", "/staff")
        message = staff_gettext(self._lang, staff_texts.LOGIN_EXPIRED) if expired else ""
        return self._form(request, message=message)

    async def submit(self, request: Request) -> Response:
        form = await request.form()

        def field(key: str) -> str:
            value = form.get(key)
            return value[:MAX_FIELD] if isinstance(value, str) else ""

        cookie = request.cookies.get(LOGIN_COOKIE, "")
        if not cookie or not hmac.compare_digest(cookie.encode(), field("login_token").encode()):
            return self._form(
                request, message=staff_gettext(self._lang, staff_texts.BAD_FORM), status=403
            )
        name, password, code = field("name"), field("password"), field("code")
        outcome = await in_transaction(
            self._sessions,
            lambda s: login.attempt(s, name=name, password=password, code=code),
        )
        if outcome.result == "ok" and outcome.staff is not None:
            staff_id = outcome.staff.id

            def start(s: Session) -> str:
                from bot.db.models import StaffUser

                staff = s.get(StaffUser, staff_id)
                assert staff is not None
                return sessions.start(s, staff=staff)

            token = await in_transaction(self._sessions, start)
            resp = RedirectResponse(_safe_next(field("next")), status_code=303)
            resp.set_cookie(
                sessions.COOKIE, token, httponly=True, samesite="strict", secure=self._secure,
                path="/staff",
            )  # fmt: skip
            resp.delete_cookie(LOGIN_COOKIE, path="/staff/login")
            return resp
        if outcome.result == "second_factor":
            return self._form(
                request,
                message=staff_gettext(self._lang, staff_texts.LOGIN_CODE),
                need_code=True,
                name=name,
            )
        await asyncio.sleep(login.delay_after(outcome.failures))
        msgid = staff_texts.LOGIN_LOCKED if outcome.result == "locked" else staff_texts.LOGIN_WRONG
        return self._form(request, message=staff_gettext(self._lang, msgid), name=name, status=401)

    async def logout(self, request: Request) -> Response:
        """Behind the guard (a POST with the session's CSRF token)."""
        token = request.cookies.get(sessions.COOKIE, "")
        staff = request.state.staff

        def end(s: Session) -> None:
            from bot.db import audit

            sessions.end(s, token=token)
            audit.record(s, action="logout", staff_name=staff.name, details=None)

        await in_transaction(self._sessions, end)
        resp = RedirectResponse("/staff/login", status_code=303)
        resp.delete_cookie(sessions.COOKIE, path="/staff")
        return resp
