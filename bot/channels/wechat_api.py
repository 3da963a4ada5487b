"""The WeChat official-account API, as the gateway calls it: the access token, shared by
every process, and the calls that use it (the customer-service message, media).

**The token.** Fetched from the stable-token endpoint, which gives the same token while it
is valid (so that one process's refresh never invalidates another's), cached in the
database (``wechat_token``) and shared by every gateway and worker. One process at a time
refreshes it (a lease on the row, compare-and-set), a few minutes before it expires;
the others wait for its result. A call answered 40001 or 42001 (the token is invalid or
expired) gets one forced refresh, unless another process already replaced that token, and
is tried once more.

WeChat answers errors as HTTP 200 with ``{"errcode": ..., "errmsg": ...}``:
``WeChatError`` carries them, and bot.channels.wechat decides what each means.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import uuid
from typing import Any

import httpx
from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from bot.db import aware, in_transaction, insert_unless_present
from bot.db.models import WeChatToken, utcnow

log = logging.getLogger(__name__)

# Refreshed this long before it expires (WeChat's tokens live 7200 s).
REFRESH_MARGIN = dt.timedelta(minutes=5)
LEASE = dt.timedelta(seconds=30)
# 40001: invalid or not the latest; 40014: invalid; 42001: expired.
TOKEN_ERRORS = frozenset({40001, 40014, 42001})
TIMEOUT_S = 10.0


class WeChatError(Exception):
    def __init__(self, errcode: int, errmsg: str) -> None:
        super().__init__(f"WeChat error {errcode}: {errmsg}")
        self.errcode, self.errmsg = errcode, errmsg


def _checked(data: Any) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise WeChatError(-2, "not a JSON object")
    code = data.get("errcode", 0)
    if isinstance(code, int) and code != 0:
        raise WeChatError(code, str(data.get("errmsg", ""))[:200])
    return data


class WeChatApi:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        *,
        app_id: str,
        secret: str,
        base_url: str,
        client: httpx.AsyncClient | None = None,
    ) -> None:
        self._sessions = sessions
        self.app_id = app_id
        self._secret = secret
        self._base = base_url.rstrip("/")
        self._client = client or httpx.AsyncClient(timeout=TIMEOUT_S)
        self._owner = str(uuid.uuid4())

    async def aclose(self) -> None:
        await self._client.aclose()

    # The token --------------------------------------------------------------------------

    def _read(self, session: Session) -> WeChatToken | None:
        return session.get(WeChatToken, self.app_id)

    def _usable(self, row: WeChatToken | None, now: dt.datetime, stale: str | None) -> str | None:
        if row is None or not row.access_token or row.expires_at is None:
            return None
        if row.access_token == stale or aware(row.expires_at) - now <= REFRESH_MARGIN:
            return None
        return row.access_token

    def _take_lease(self, session: Session, now: dt.datetime) -> bool:
        session.execute(
            insert_unless_present(
                session, WeChatToken, {"app_id": self.app_id}, conflict_on=["app_id"]
            )
        )
        won = session.execute(
            update(WeChatToken)
            .where(
                WeChatToken.app_id == self.app_id,
                or_(WeChatToken.lease_until.is_(None), WeChatToken.lease_until < now),
            )
            .values(lease_owner=self._owner, lease_until=now + LEASE)
            .execution_options(synchronize_session=False)
        )
        return bool(getattr(won, "rowcount", 0))

    async def token(self, *, stale: str | None = None) -> str:
        """A valid access token. ``stale``: a token WeChat just refused; a new one is
        forced unless another process has replaced it already."""

        def look(session: Session) -> tuple[str | None, bool]:
            now = utcnow()
            usable = self._usable(self._read(session), now, stale)
            if usable is not None:
                return usable, False
            return None, self._take_lease(session, now)

        for _ in range(int(LEASE.total_seconds() * 10)):
            usable, mine = await in_transaction(self._sessions, look)
            if usable is not None:
                return usable
            if mine:
                return await self._refresh(force=stale is not None)
            await asyncio.sleep(0.1)  # another process is refreshing it
        raise WeChatError(-3, "the access token was not refreshed in time")

    async def _refresh(self, *, force: bool) -> str:
        try:
            resp = await self._client.post(
                f"{self._base}/cgi-bin/stable_token",
                json={
                    "grant_type": "client_credential",
                    "appid": self.app_id,
                    "secret": self._secret,
                    "force_refresh": force,
                },
            )
            data = _checked(resp.json())
            token = str(data["access_token"])
            expires = utcnow() + dt.timedelta(seconds=int(data.get("expires_in", 7200)))
        except Exception:
            await in_transaction(self._sessions, self._release)
            raise

        def store(session: Session) -> None:
            session.execute(
                update(WeChatToken)
                .where(WeChatToken.app_id == self.app_id)
                .values(access_token=token, expires_at=expires, lease_owner=None, lease_until=None)
            )

        await in_transaction(self._sessions, store)
        log.info("WeChat access token refreshed (force=%s)", force)
        return token

    def _release(self, session: Session) -> None:
        session.execute(
            update(WeChatToken)
            .where(WeChatToken.app_id == self.app_id, WeChatToken.lease_owner == self._owner)
            .values(lease_owner=None, lease_until=None)
        )

    # Calls --------------------------------------------------------------------------------

    async def call(
        self,
        path: str,
        *,
        json: dict[str, Any] | None = None,
        params: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        """Call the API with the access token: POST with a JSON body, or GET with
        ``params``; on a token error, once more with a fresh token. Raises WeChatError,
        or httpx's errors for the network."""
        token = await self.token()
        for attempt in (1, 2):
            query = {**(params or {}), "access_token": token}
            if json is None:
                resp = await self._client.get(f"{self._base}{path}", params=query)
            else:
                resp = await self._client.post(
                    f"{self._base}{path}",
                    params=query,
                    content=_json_bytes(json),
                    headers={"Content-Type": "application/json"},
                )
            try:
                return _checked(resp.json())
            except WeChatError as exc:
                if exc.errcode not in TOKEN_ERRORS or attempt == 2:
                    raise
                token = await self.token(stale=token)
        raise AssertionError("unreachable")

    async def send_text(self, openid: str, text: str) -> None:
        """A customer-service text message (within the 48 hours after the user wrote)."""
        await self.call(
            "/cgi-bin/message/custom/send",
            json={"touser": openid, "msgtype": "text", "text": {"content": text}},
        )

    async def send_template(self, openid: str, template_id: str, data: dict[str, Any]) -> None:
        """A template message: what reaches a user outside the customer-service window."""
        await self.call(
            "/cgi-bin/message/template/send",
            json={"touser": openid, "template_id": template_id, "data": data},
        )

    async def user_info(self, openid: str) -> dict[str, Any]:
        """A follower's public info (``language``: WeChat's, e.g. zh_CN or en)."""
        return await self.call("/cgi-bin/user/info", params={"openid": openid, "lang": "en"})

    async def create_menu(self, menu: dict[str, Any]) -> None:
        await self.call("/cgi-bin/menu/create", json=menu)

    async def media(self, media_id: str, *, max_bytes: int) -> bytes:
        """A media file the user sent (an image), by its MediaId."""
        token = await self.token()
        resp = await self._client.get(
            f"{self._base}/cgi-bin/media/get",
            params={"access_token": token, "media_id": media_id},
        )
        if resp.headers.get("content-type", "").startswith(("application/json", "text/plain")):
            _checked(resp.json())
            raise WeChatError(-2, "no media in the answer")
        if len(resp.content) > max_bytes:
            raise WeChatError(-4, "media larger than allowed")
        return resp.content


def _json_bytes(data: dict[str, Any]) -> bytes:
    """WeChat wants UTF-8 text, not \\u escapes (which it would show as such)."""
    import json

    return json.dumps(data, ensure_ascii=False).encode("utf-8")


async def current_token(sessions: sessionmaker[Session], app_id: str) -> str | None:
    """The cached token (for tests and operators)."""

    def read(session: Session) -> str | None:
        return session.scalar(select(WeChatToken.access_token).where(WeChatToken.app_id == app_id))

    return await in_transaction(sessions, read)
