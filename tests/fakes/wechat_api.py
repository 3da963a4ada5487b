"""A local fake of WeChat's servers for an official account, speaking their HTTP protocol.

Two sides, as in https://developers.weixin.qq.com/doc/offiaccount/ :

**The API** the gateway calls (``FakeWeChat.app``, served over HTTP by the tests; its
address is the gateway's WECHAT_API_BASE_URL, the paths are WeChat's, ``/cgi-bin/...``):
the access token (``/cgi-bin/token``, which invalidates the previous token each time it
issues one, and ``/cgi-bin/stable_token``, which gives the same token while it is valid
unless ``force_refresh``), the customer-service message, the template message, media
download and upload, the user's info and the menu. Every error is WeChat's: HTTP 200 with
``{"errcode": ..., "errmsg": ...}``. Tests read what was sent (``calls``, ``messages``,
``templates``, ``menu``) and make calls fail the way WeChat does (``failures``,
``window_closed``, ``unsubscribed``, an expired or replaced token...).

**The callback sender** (WeChat -> the gateway): ``WeChatUser`` builds the XML WeChat
pushes (messages and events), ``signed_get`` the URL-verification query, ``post_plain`` and
``post_encrypted`` post a push as WeChat does (plain or safe mode), with knobs to forge a
bad signature, an old timestamp, a replayed nonce, another AppID inside the encrypted
payload, or a hostile body (malformed XML, an external entity, a billion laughs, 1 MB).
Signatures and AES are wechatpy's (wechatpy.utils.WeChatSigner, wechatpy.crypto), never
written here.
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import re
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import xmltodict  # type: ignore[import-untyped]
from starlette.applications import Starlette
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from wechatpy.crypto import PrpCrypto, WeChatCrypto  # type: ignore[import-untyped]
from wechatpy.utils import WeChatSigner  # type: ignore[import-untyped]

# The account, as tests configure both the gateway and the fake. --------------------------
APP_ID = "wx5f1c0a7e9b3d2468"
APP_SECRET = "3c9e5a1f7b2d4e6f8a0b1c2d3e4f5a6b"
ORIGINAL_ID = "gh_8a1b2c3d4e5f"  # the account's original id: ToUserName of every push
CALLBACK_TOKEN = "yiwu-callback-token"
# EncodingAESKey: 43 characters, base64 of 32 bytes without its "=".
AES_KEY = base64.b64encode(bytes(range(32))).decode()[:-1]

# Limits and codes --------------------------------------------------------------------------
TOKEN_TTL_S = 7200
# No limit is documented for a customer-service text; 2048 bytes of UTF-8 is what WeChat
# answers 45002 beyond (developers.weixin.qq.com community, "content size out of limit").
TEXT_LIMIT_BYTES = 2048
CUSTOM_MSGTYPES = frozenset(
    {"text", "image", "voice", "video", "music", "news", "mpnews", "mpnewsarticle",
     "msgmenu", "wxcard", "miniprogrampage"}
)  # fmt: skip
MENU_TYPES = frozenset(
    {"click", "view", "scancode_push", "scancode_waitmsg", "pic_sysphoto",
     "pic_photo_or_album", "pic_weixin", "location_select", "media_id", "view_limited",
     "article_id", "article_view_limited", "miniprogram"}
)  # fmt: skip
KEY_MENU_TYPES = frozenset(
    {"click", "scancode_push", "scancode_waitmsg", "pic_sysphoto", "pic_photo_or_album",
     "pic_weixin", "location_select"}
)  # fmt: skip
INVALID_TOKEN = (40001, "invalid credential, access_token is invalid or not latest")
EXPIRED_TOKEN = (42001, "access_token expired")
SYSTEM_BUSY = (-1, "system error")
WINDOW_CLOSED = (45015, "response out of time limit or subscription is canceled")
OUT_OF_RESPONSE_COUNT = (45047, "out of response count limit")
REQUIRE_SUBSCRIBE = (43004, "require subscribe")
CONTENT_TOO_LONG = (45002, "content size out of limit")
INVALID_MEDIA_ID = (40007, "invalid media_id")
DATA_FORMAT_ERROR = (47001, "data format error")
# WeChat refuses a body with \\uXXXX escapes (global return code 40033): send UTF-8.
UNICODE_ESCAPES = (
    40033,
    "invalid charset. please check your request, if include \\uxxxx will create fail!",
)
_ESCAPE = re.compile(r"(?<!\\)(?:\\\\)*\\u[0-9a-fA-F]{4}")
_EXTENSIONS = {
    "image/jpeg": "jpg", "image/png": "png", "image/gif": "gif", "audio/amr": "amr",
    "audio/speex": "speex", "audio/mpeg": "mp3", "video/mp4": "mp4",
}  # fmt: skip

Error = tuple[int, str]


@dataclass
class Token:
    value: str
    kind: str  # "classic" (/cgi-bin/token) or "stable" (/cgi-bin/stable_token)
    expires_at: float  # on the fake's clock (FakeWeChat.now)
    revoked_at: float | None = None  # replaced: refused from then on (after the grace)


@dataclass
class CustomMessage:
    """A customer-service message WeChat accepted. ``content``: the text of a text, the
    media_id of an image/voice/video, the articles of a news, else the msgtype's object."""

    openid: str
    msgtype: str
    content: Any
    at: float  # time.monotonic()
    body: dict[str, Any]


@dataclass
class TemplateMessage:
    openid: str
    template_id: str
    data: dict[str, Any]
    url: str | None
    miniprogram: dict[str, Any] | None
    msgid: int
    at: float  # time.monotonic()


Handler = Callable[[Request, dict[str, Any]], Awaitable[Response]]


class FakeWeChat:
    """WeChat's API for one official account (``app_id``/``secret``).

    Token knobs: ``grace_s`` (how long a replaced token still works: 5 minutes at
    WeChat, 0 by default here), ``stable_early_s`` (the stable endpoint gives a new token
    this long before the current one expires, the old one living on until its end: 300 s
    at WeChat), ``force_refresh_interval_s`` (a force_refresh sooner than this after the
    last one gives the current token back: 30 s at WeChat, 0 here). ``advance(s)`` moves
    the fake's clock; ``expire()`` and ``revoke()`` end tokens now."""

    def __init__(
        self,
        app_id: str = APP_ID,
        secret: str = APP_SECRET,
        *,
        grace_s: float = 0.0,
        ttl_s: int = TOKEN_TTL_S,
        stable_early_s: float = 300.0,
        force_refresh_interval_s: float = 0.0,
    ) -> None:
        self.app_id, self.secret = app_id, secret
        self.grace_s, self.ttl_s = grace_s, ttl_s
        self.stable_early_s = stable_early_s
        self.force_refresh_interval_s = force_refresh_interval_s
        # Every request: (path, query parameters merged with the JSON body's keys).
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.tokens: dict[str, Token] = {}
        self.issued = 0  # tokens issued, by either endpoint
        self._classic: Token | None = None
        self._stable: Token | None = None
        self._last_force: float | None = None
        self._offset = 0.0
        # Answers, consumed one per call before anything else is checked (after the token):
        # (errcode, errmsg), e.g. SYSTEM_BUSY, OUT_OF_RESPONSE_COUNT.
        self.failures: list[Error] = []  # /cgi-bin/message/custom/send
        self.template_failures: list[Error] = []  # /cgi-bin/message/template/send
        self.token_failures: list[Error] = []  # both token endpoints (e.g. 40164, IP)
        # Users who have not written in the last 48 hours: 45015 to custom messages.
        self.window_closed: set[str] = set()
        # Users who unsubscribed: 43004 to messages, subscribe 0 from user/info.
        self.unsubscribed: set[str] = set()
        # WeChat's language of each user ("zh_CN", "zh_TW", "en", "ru"...), for user/info.
        self.languages: dict[str, str] = {}
        self.default_language = "zh_CN"
        self.template_ids: set[str] = set()
        # (monotonic time, openid) of every custom send that got past the token check.
        self.attempts: list[tuple[float, str]] = []
        self.messages: list[CustomMessage] = []
        self.templates: list[TemplateMessage] = []
        self.typing: list[tuple[str, str]] = []  # (openid, "Typing"/"CancelTyping")
        self.media: dict[str, tuple[bytes, str]] = {}  # media_id -> (bytes, content type)
        self.menu: dict[str, Any] | None = None
        self._msgids = itertools.count(2_948_001_234_567_890_000)
        # Content-Type of JSON answers; WeChat's own is this (a client must not expect
        # exactly "application/json"). Set "text/plain" to see a client sniff the body.
        self.json_content_type = "application/json; encoding=utf-8"
        # WeChat appends " rid: ..." (a request id) to errmsg; off by default.
        self.append_rid = False
        self.reject_unicode_escapes = True
        self.routes: dict[str, tuple[frozenset[str], Handler]] = {
            "/cgi-bin/token": (frozenset({"GET"}), self._token),
            "/cgi-bin/stable_token": (frozenset({"POST"}), self._stable_token),
            "/cgi-bin/message/custom/send": (frozenset({"POST"}), self._custom_send),
            "/cgi-bin/message/custom/typing": (frozenset({"POST"}), self._typing),
            "/cgi-bin/message/template/send": (frozenset({"POST"}), self._template_send),
            "/cgi-bin/media/get": (frozenset({"GET"}), self._media_get),
            "/cgi-bin/media/upload": (frozenset({"POST"}), self._media_upload),
            "/cgi-bin/user/info": (frozenset({"GET"}), self._user_info),
            "/cgi-bin/menu/create": (frozenset({"POST"}), self._menu_create),
            "/cgi-bin/menu/get": (frozenset({"GET"}), self._menu_get),
            "/cgi-bin/menu/delete": (frozenset({"GET"}), self._menu_delete),
        }
        self.app = Starlette(
            routes=[
                Route("/_video/{media_id}", self._video_download, methods=["GET"]),
                Route("/{path:path}", self.handle, methods=["GET", "POST"]),
            ]
        )

    # What tests use -------------------------------------------------------------------
    def now(self) -> float:
        """The fake's clock: wall time plus what ``advance`` added."""
        return time.time() + self._offset

    def advance(self, seconds: float) -> None:
        self._offset += seconds

    def issue_token(self, kind: str = "stable") -> str:
        """A valid token, as its endpoint would issue it, without a request."""
        if kind == "stable":
            return self._new_stable().value
        return self._new_classic().value

    @property
    def access_token(self) -> str | None:
        """The token issued last (by either endpoint)."""
        return next(reversed(self.tokens), None)

    def token_state(self, token: str) -> str:
        """ "valid", "expired" (42001) or "invalid" (40001), now."""
        found = self._token_error(token)
        if found is None:
            return "valid"
        return "expired" if found == EXPIRED_TOKEN else "invalid"

    def expire(self, token: str | None = None) -> None:
        """The token (every token, by default) expires now: 42001 from then on."""
        for t in self.tokens.values():
            if token is None or t.value == token:
                t.expires_at = min(t.expires_at, self.now())

    def revoke(self, token: str | None = None) -> None:
        """The token (every token, by default) is no longer the latest: 40001."""
        for t in self.tokens.values():
            if token is None or t.value == token:
                t.revoked_at = self.now()

    def add_media(self, content: bytes, content_type: str = "image/jpeg") -> str:
        """A media on WeChat's servers (what a user sent): its media_id."""
        media_id = secrets.token_urlsafe(48)[:64]
        self.media[media_id] = (content, content_type)
        return media_id

    def add_template(self, template_id: str | None = None) -> str:
        template_id = template_id or secrets.token_urlsafe(32)[:43]
        self.template_ids.add(template_id)
        return template_id

    def sent(self, path: str) -> list[dict[str, Any]]:
        """The calls to a path: "/cgi-bin/message/custom/send" or "message/custom/send"."""
        path = path if path.startswith("/") else "/cgi-bin/" + path
        return [params for name, params in self.calls if name == path]

    async def wait_for(self, path: str, count: int, timeout: float = 20) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if len(self.sent(path)) >= count:
                return self.sent(path)
            await asyncio.sleep(0.05)
        raise AssertionError(f"{path} called {len(self.sent(path))} times, wanted {count}")

    # The protocol ---------------------------------------------------------------------
    async def handle(self, request: Request) -> Response:
        path = "/" + request.path_params["path"]
        params: dict[str, Any] = dict(request.query_params)
        raw = await request.body()
        body: Any = None
        if request.method == "POST" and not request.headers.get("content-type", "").startswith(
            "multipart/"
        ):
            body = self._decode(raw)
            if isinstance(body, dict):
                params.update(body)
            elif raw:
                params["_raw"] = raw.decode("utf-8", "replace")
        self.calls.append((path, params))
        route = self.routes.get(path)
        if route is None:
            return self._json({"errcode": 404, "errmsg": "Not Found"}, 404)
        methods, handler = route
        if request.method not in methods:
            wanted = "POST" if "POST" in methods else "GET"
            return self._error((43002 if wanted == "POST" else 43001, f"require {wanted} method"))
        if request.method == "POST" and isinstance(body, _BadBody):
            return self._error(body.error)
        return await handler(request, body if isinstance(body, dict) else {})

    def _decode(self, raw: bytes) -> Any:
        if not raw:
            return _BadBody(DATA_FORMAT_ERROR)
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            return _BadBody(DATA_FORMAT_ERROR)
        if self.reject_unicode_escapes and _ESCAPE.search(text):
            return _BadBody(UNICODE_ESCAPES)
        try:
            value = json.loads(text)
        except ValueError:
            return _BadBody(DATA_FORMAT_ERROR)
        return value if isinstance(value, dict) else _BadBody(DATA_FORMAT_ERROR)

    # Tokens
    async def _token(self, request: Request, _body: dict[str, Any]) -> Response:
        q = request.query_params
        refused = self._credentials(q.get("grant_type"), q.get("appid"), q.get("secret"))
        if refused is not None:
            return self._error(refused)
        token = self._new_classic()
        return self._json({"access_token": token.value, "expires_in": self.ttl_s})

    async def _stable_token(self, _request: Request, body: dict[str, Any]) -> Response:
        refused = self._credentials(body.get("grant_type"), body.get("appid"), body.get("secret"))
        if refused is not None:
            return self._error(refused)
        force = body.get("force_refresh", False)
        if not isinstance(force, bool):
            return self._error(DATA_FORMAT_ERROR)
        now = self.now()
        current = self._stable
        if current is None or self._token_error(current.value) is not None:
            current = self._new_stable()
        elif force:
            recent = self._last_force is not None and (
                now - self._last_force < self.force_refresh_interval_s
            )
            if not recent:
                current.revoked_at = now + self.grace_s
                current = self._new_stable()
                self._last_force = now
        elif current.expires_at - now <= self.stable_early_s:
            current = self._new_stable()  # the old one lives on until it expires
        return self._json(
            {"access_token": current.value, "expires_in": int(current.expires_at - now)}
        )

    def _credentials(self, grant_type: Any, appid: Any, secret: Any) -> Error | None:
        if grant_type != "client_credential":
            return (40002, "invalid grant_type")
        if not appid:
            return (41002, "appid missing")
        if not secret:
            return (41004, "appsecret missing")
        if appid != self.app_id:
            return (40013, "invalid appid")
        if secret != self.secret:
            return (40125, "invalid appsecret")
        if self.token_failures:
            return self.token_failures.pop(0)
        return None

    def _mint(self, kind: str) -> Token:
        value = secrets.token_urlsafe(96)[:128]
        token = Token(value, kind, self.now() + self.ttl_s)
        self.tokens[value] = token
        self.issued += 1
        return token

    def _new_classic(self) -> Token:
        # Each new classic token replaces the previous one (after the grace).
        if self._classic is not None and self._classic.revoked_at is None:
            self._classic.revoked_at = self.now() + self.grace_s
        self._classic = self._mint("classic")
        return self._classic

    def _new_stable(self) -> Token:
        self._stable = self._mint("stable")
        return self._stable

    def _token_error(self, value: str | None) -> Error | None:
        if not value:
            return (41001, "access_token missing")
        token = self.tokens.get(value)
        now = self.now()
        if token is None or (token.revoked_at is not None and now >= token.revoked_at):
            return INVALID_TOKEN
        if now >= token.expires_at:
            return EXPIRED_TOKEN
        return None

    # Messages
    async def _custom_send(self, request: Request, body: dict[str, Any]) -> Response:
        refused = self._token_error(request.query_params.get("access_token"))
        if refused is not None:
            return self._error(refused)
        openid = body.get("touser")
        self.attempts.append((time.monotonic(), str(openid)))
        if self.failures:
            return self._error(self.failures.pop(0))
        if not isinstance(openid, str) or not openid:
            return self._error((40003, "invalid openid"))
        msgtype = body.get("msgtype")
        if msgtype not in CUSTOM_MSGTYPES:
            return self._error((40008, "invalid message type"))
        if openid in self.unsubscribed:
            return self._error(REQUIRE_SUBSCRIBE)
        if openid in self.window_closed:
            return self._error(WINDOW_CLOSED)
        payload = body.get(msgtype)
        if not isinstance(payload, dict):
            return self._error(DATA_FORMAT_ERROR)
        content: Any = payload
        if msgtype == "text":
            content = payload.get("content")
            if not isinstance(content, str) or not content:
                return self._error((44004, "empty content"))
            if len(content.encode("utf-8")) > TEXT_LIMIT_BYTES:
                return self._error(CONTENT_TOO_LONG)
        elif msgtype in {"image", "voice", "video"}:
            content = payload.get("media_id")
            if content not in self.media:
                return self._error(INVALID_MEDIA_ID)
        elif msgtype == "news":
            content = payload.get("articles")
            if not isinstance(content, list) or not content:
                return self._error((44003, "empty news data"))
            if len(content) > 1:
                return self._error((45008, "article size out of limit"))
        self.messages.append(CustomMessage(openid, msgtype, content, time.monotonic(), body))
        return self._ok()

    async def _typing(self, request: Request, body: dict[str, Any]) -> Response:
        refused = self._token_error(request.query_params.get("access_token"))
        if refused is not None:
            return self._error(refused)
        openid, command = body.get("touser"), body.get("command")
        if not isinstance(openid, str) or not openid:
            return self._error((40003, "invalid openid"))
        if command not in {"Typing", "CancelTyping"}:
            return self._error((40035, "invalid args"))
        if openid in self.window_closed or openid in self.unsubscribed:
            return self._error(WINDOW_CLOSED)
        self.typing.append((openid, str(command)))
        return self._ok()

    async def _template_send(self, request: Request, body: dict[str, Any]) -> Response:
        refused = self._token_error(request.query_params.get("access_token"))
        if refused is not None:
            return self._error(refused)
        if self.template_failures:
            return self._error(self.template_failures.pop(0))
        openid, template_id, data = body.get("touser"), body.get("template_id"), body.get("data")
        if not isinstance(openid, str) or not openid:
            return self._error((40003, "invalid openid"))
        if template_id not in self.template_ids:
            return self._error((40037, "invalid template_id"))
        if openid in self.unsubscribed:
            return self._error(REQUIRE_SUBSCRIBE)
        if data is not None and not (
            isinstance(data, dict)
            and all(isinstance(v, dict) and isinstance(v.get("value"), str) for v in data.values())
        ):
            return self._error(DATA_FORMAT_ERROR)
        msgid = next(self._msgids)
        self.templates.append(
            TemplateMessage(
                openid, str(template_id), data or {}, body.get("url"), body.get("miniprogram"),
                msgid, time.monotonic(),
            )
        )  # fmt: skip
        return self._json({"errcode": 0, "errmsg": "ok", "msgid": msgid})

    # Media
    async def _media_get(self, request: Request, _body: dict[str, Any]) -> Response:
        refused = self._token_error(request.query_params.get("access_token"))
        if refused is not None:
            return self._error(refused)
        media_id = request.query_params.get("media_id", "")
        found = self.media.get(media_id)
        if found is None:
            return self._error(INVALID_MEDIA_ID)
        content, content_type = found
        if content_type.startswith("video/"):  # a video comes as a link to download it
            return self._json({"video_url": f"{request.base_url}_video/{media_id}"})
        ext = _EXTENSIONS.get(content_type, "bin")
        return Response(
            content,
            headers={
                "Content-Type": content_type,
                "Content-disposition": f'attachment; filename="{media_id}.{ext}"',
                "Cache-Control": "no-cache, must-revalidate",
            },
        )

    async def _video_download(self, request: Request) -> Response:
        found = self.media.get(request.path_params["media_id"])
        if found is None:
            return Response(status_code=404)
        return Response(found[0], media_type=found[1])

    async def _media_upload(self, request: Request, _body: dict[str, Any]) -> Response:
        refused = self._token_error(request.query_params.get("access_token"))
        if refused is not None:
            return self._error(refused)
        kind = request.query_params.get("type", "")
        if kind not in {"image", "voice", "video", "thumb"}:
            return self._error((40004, "invalid media type"))
        form = await request.form()
        upload = form.get("media")
        if not isinstance(upload, UploadFile):
            return self._error((41005, "media data missing"))
        content = await upload.read()
        media_id = self.add_media(content, upload.content_type or "application/octet-stream")
        self.calls[-1][1].update({"type": kind, "media": media_id, "bytes": len(content)})
        return self._json({"type": kind, "media_id": media_id, "created_at": int(self.now())})

    # Users and the menu
    async def _user_info(self, request: Request, _body: dict[str, Any]) -> Response:
        refused = self._token_error(request.query_params.get("access_token"))
        if refused is not None:
            return self._error(refused)
        openid = request.query_params.get("openid", "")
        if not openid:
            return self._error((40003, "invalid openid"))
        if openid in self.unsubscribed:
            return self._json({"subscribe": 0, "openid": openid, "tagid_list": []})
        return self._json(
            {
                "subscribe": 1,
                "openid": openid,
                "language": self.languages.get(openid, self.default_language),
                "subscribe_time": int(self.now()) - 86400,
                "remark": "",
                "groupid": 0,
                "tagid_list": [],
                "subscribe_scene": "ADD_SCENE_QR_CODE",
                "qr_scene": 0,
                "qr_scene_str": "",
            }
        )

    async def _menu_create(self, request: Request, body: dict[str, Any]) -> Response:
        refused = self._token_error(request.query_params.get("access_token"))
        if refused is not None:
            return self._error(refused)
        invalid = menu_error(body)
        if invalid is not None:
            return self._error(invalid)
        self.menu = body
        return self._ok()

    async def _menu_get(self, request: Request, _body: dict[str, Any]) -> Response:
        refused = self._token_error(request.query_params.get("access_token"))
        if refused is not None:
            return self._error(refused)
        if self.menu is None:
            return self._error((46003, "menu no exist"))
        return self._json({"menu": self.menu})

    async def _menu_delete(self, request: Request, _body: dict[str, Any]) -> Response:
        refused = self._token_error(request.query_params.get("access_token"))
        if refused is not None:
            return self._error(refused)
        self.menu = None
        return self._ok()

    # Answers
    def _json(self, body: dict[str, Any], status: int = 200) -> Response:
        content = json.dumps(body, ensure_ascii=False).encode("utf-8")
        return Response(content, status, media_type=self.json_content_type)

    def _ok(self) -> Response:
        return self._json({"errcode": 0, "errmsg": "ok"})

    def _error(self, error: Error) -> Response:
        code, message = error
        if self.append_rid:
            message += f" rid: {secrets.token_hex(4)}-{secrets.token_hex(4)}-{secrets.token_hex(4)}"
        return self._json({"errcode": code, "errmsg": message})


@dataclass
class _BadBody:
    error: Error


def menu_error(body: dict[str, Any]) -> Error | None:
    """What WeChat answers a menu/create body it refuses, or None: 1 to 3 top-level
    buttons (name <= 16 bytes), each either an action or 1 to 5 sub-buttons (name <= 60
    bytes); key <= 128 bytes, url <= 1024 bytes; types as WeChat knows them."""
    buttons = body.get("button")
    if not isinstance(buttons, list) or not 1 <= len(buttons) <= 3:
        return (40016, "invalid button size")
    for button in buttons:
        if not isinstance(button, dict):
            return DATA_FORMAT_ERROR
        if not _fits(button.get("name"), 16):
            return (40018, "invalid button name size")
        subs = button.get("sub_button")
        if subs is not None and not isinstance(subs, list):
            return DATA_FORMAT_ERROR
        if not subs:
            found = _action_error(button, sub=False)
            if found is not None:
                return found
            continue
        if len(subs) > 5:
            return (40023, "invalid sub button size")
        for sub in subs:
            if not isinstance(sub, dict):
                return DATA_FORMAT_ERROR
            if sub.get("sub_button"):
                return (40022, "invalid sub menu level")
            if not _fits(sub.get("name"), 60):
                return (40025, "invalid sub button name size")
            found = _action_error(sub, sub=True)
            if found is not None:
                return found
    return None


def _fits(value: Any, limit: int) -> bool:
    return isinstance(value, str) and 0 < len(value.encode("utf-8")) <= limit


def _action_error(button: dict[str, Any], *, sub: bool) -> Error | None:
    kind = button.get("type")
    if kind not in MENU_TYPES:
        return (40024, "invalid sub button type") if sub else (40017, "invalid button type")
    if kind in KEY_MENU_TYPES and not _fits(button.get("key"), 128):
        return (40026 if sub else 40019, f"invalid {'sub ' if sub else ''}button key size")
    if kind in {"view", "miniprogram"} and not _fits(button.get("url"), 1024):
        return (40027 if sub else 40020, f"invalid {'sub ' if sub else ''}button url size")
    if kind == "miniprogram" and not (button.get("appid") and button.get("pagepath")):
        return DATA_FORMAT_ERROR
    if kind in {"media_id", "view_limited"} and not button.get("media_id"):
        return INVALID_MEDIA_ID
    if kind in {"article_id", "article_view_limited"} and not button.get("article_id"):
        return DATA_FORMAT_ERROR
    return None


# The callback sender: WeChat -> the gateway -------------------------------------------------

_openids = itertools.count(1)
_msg_ids = itertools.count(24_681_357_902_468_000)


def new_openid() -> str:
    """An OpenID of the shape WeChat gives (28 characters), never the same twice."""
    return f"oYiwu{next(_openids):06d}" + secrets.token_urlsafe(16)[:17]


def _cdata(text: str) -> str:
    return "<![CDATA[" + text.replace("]]>", "]]]]><![CDATA[>") + "]]>"


@dataclass
class WeChatUser:
    """A WeChat user writing to the account: the XML WeChat pushes for what they do.

    Messages carry a new MsgId each (``msg_id=`` to give one); events carry none. WeChat
    retries a push it got no answer to within 5 s with the same XML (same MsgId, same
    CreateTime): post the same string again."""

    openid: str = field(default_factory=new_openid)
    account: str = ORIGINAL_ID  # the account's original id, ToUserName

    def push(
        self,
        msg_type: str,
        fields: dict[str, str | int | float],
        *,
        msg_id: int | bool | None = True,
        at: int | None = None,
    ) -> str:
        """Any push: ``fields`` after the common header (str as CDATA, numbers bare);
        ``msg_id``: True for a new MsgId, an int for that one, False/None for none."""
        parts = [
            f"<ToUserName>{_cdata(self.account)}</ToUserName>",
            f"<FromUserName>{_cdata(self.openid)}</FromUserName>",
            f"<CreateTime>{at if at is not None else int(time.time())}</CreateTime>",
            f"<MsgType>{_cdata(msg_type)}</MsgType>",
        ]
        for name, value in fields.items():
            text = _cdata(value) if isinstance(value, str) else str(value)
            parts.append(f"<{name}>{text}</{name}>")
        if msg_id is True:
            msg_id = next(_msg_ids)
        if msg_id:
            parts.append(f"<MsgId>{int(msg_id)}</MsgId>")
        return "<xml>" + "\n".join(parts) + "\n</xml>"

    # Messages
    def text(self, content: str, *, msg_id: int | None = None, at: int | None = None) -> str:
        return self.push("text", {"Content": content}, msg_id=msg_id or True, at=at)

    def image(self, media_id: str, *, pic_url: str | None = None, msg_id: int | None = None) -> str:
        url = pic_url or f"http://mmbiz.qpic.cn/mmbiz_jpg/{media_id[:16]}/0"
        return self.push("image", {"PicUrl": url, "MediaId": media_id}, msg_id=msg_id or True)

    def voice(
        self,
        media_id: str,
        *,
        recognition: str | None = None,
        format: str = "amr",
        msg_id: int | None = None,
    ) -> str:
        """A voice message; with ``recognition``, WeChat's transcript (when the account
        has speech recognition on; an empty string is what it sends when it heard none)."""
        fields: dict[str, str | int | float] = {"MediaId": media_id, "Format": format}
        if recognition is not None:
            fields["Recognition"] = recognition
        return self.push("voice", fields, msg_id=msg_id or True)

    def video(
        self, media_id: str, *, thumb_media_id: str = "thumb0001", short: bool = False
    ) -> str:
        fields: dict[str, str | int | float] = {"MediaId": media_id, "ThumbMediaId": thumb_media_id}
        return self.push("shortvideo" if short else "video", fields)

    def location(
        self, latitude: float, longitude: float, *, scale: int = 15, label: str = ""
    ) -> str:
        fields: dict[str, str | int | float] = {
            "Location_X": latitude,
            "Location_Y": longitude,
            "Scale": scale,
            "Label": label,
        }
        return self.push("location", fields)

    def link(self, title: str, description: str, url: str) -> str:
        return self.push("link", {"Title": title, "Description": description, "Url": url})

    def unknown(self, msg_type: str = "newkind", **fields: str | int | float) -> str:
        """A message type the gateway does not know (WeChat adds some now and then)."""
        return self.push(msg_type, fields or {"Title": "?"})

    # Events (no MsgId)
    def event(self, event: str, **fields: str | int | float) -> str:
        return self.push("event", {"Event": event, **fields}, msg_id=None)

    def subscribe(
        self, *, scene: str | None = None, ticket: str = "gQH47joAAAAAAAAAASxodHRw"
    ) -> str:
        """Following the account; by scanning a parametric QR code with ``scene``."""
        if scene is None:
            return self.event("subscribe")
        return self.event("subscribe", EventKey=f"qrscene_{scene}", Ticket=ticket)

    def unsubscribe(self) -> str:
        return self.event("unsubscribe", EventKey="")

    def click(self, key: str) -> str:
        return self.event("CLICK", EventKey=key)

    def view(self, url: str) -> str:
        return self.event("VIEW", EventKey=url)

    def scan(self, scene: str, *, ticket: str = "gQH47joAAAAAAAAAASxodHRw") -> str:
        """Scanning a parametric QR code while already following."""
        return self.event("SCAN", EventKey=scene, Ticket=ticket)

    def location_event(self, latitude: float, longitude: float, precision: float = 65.0) -> str:
        return self.event("LOCATION", Latitude=latitude, Longitude=longitude, Precision=precision)

    # Hostile bodies
    def malformed(self) -> str:
        return (
            f"<xml><ToUserName>{_cdata(self.account)}</ToUserName>"
            f"<FromUserName>{_cdata(self.openid)}<FromUserName><MsgType>text</Msg"
        )

    def xxe(self, target: str = "file:///etc/passwd") -> str:
        """A text whose Content is an external entity: a parser that resolves it leaks
        the file (or fetches the URL)."""
        body = self.text("PLACEHOLDER").replace(_cdata("PLACEHOLDER"), "&xxe;")
        return f'<?xml version="1.0"?>\n<!DOCTYPE xml [<!ENTITY xxe SYSTEM "{target}">]>\n{body}'

    def billion_laughs(self, levels: int = 10) -> str:
        """Entities nested ``levels`` deep, ten each: 10**(levels - 1) "lol"s once expanded
        (a billion by default)."""
        entities = ['<!ENTITY lol0 "lol">'] + [
            f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10}">' for i in range(1, levels)
        ]
        body = self.text("PLACEHOLDER").replace(_cdata("PLACEHOLDER"), f"&lol{levels - 1};")
        return '<?xml version="1.0"?>\n<!DOCTYPE xml [\n' + "\n".join(entities) + "\n]>\n" + body

    def oversized(self, size: int = 1 << 20) -> str:
        """A text message of ``size`` bytes (1 MiB by default): far more than WeChat's
        pushes ever are."""
        bare = len(self.text("", msg_id=1).encode())
        return self.text("x" * max(size - bare, 1))


def sign(token: str, timestamp: str | int, nonce: str, encrypt: str | None = None) -> str:
    """WeChat's signature: SHA-1 of the sorted token, timestamp, nonce (``signature``),
    and the Encrypt value too in safe mode (``msg_signature``). By wechatpy."""
    signer = WeChatSigner()
    signer.add_data(token, str(timestamp), nonce, *([encrypt] if encrypt is not None else []))
    return str(signer.signature)


def encrypt(
    xml: str | bytes, aes_key: str, app_id: str, *, random_prefix: str | None = None
) -> str:
    """The Encrypt value of safe mode: AES-256-CBC of random(16) + length + xml + AppID,
    by wechatpy. ``random_prefix`` (16 characters) fixes the random part (test vectors)."""
    crypto = PrpCrypto(base64.b64decode(aes_key + "="))
    if random_prefix is not None:
        crypto.get_random_string = lambda: random_prefix
    value = crypto.encrypt(xml, app_id)
    return value.decode() if isinstance(value, bytes) else str(value)


def decrypt_reply(reply: str | bytes, token: str, aes_key: str, app_id: str) -> str:
    """The XML of a passive reply the gateway encrypted (safe mode), its MsgSignature
    checked, by wechatpy: raises wechatpy's InvalidSignatureException / InvalidAppIdException."""
    envelope = xmltodict.parse(reply)["xml"]
    crypto = WeChatCrypto(token, aes_key, app_id)
    return str(
        crypto.decrypt_message(
            reply, envelope["MsgSignature"], envelope["TimeStamp"], envelope["Nonce"]
        )
    )


def new_nonce() -> str:
    return str(secrets.randbelow(9 * 10**9) + 10**9)


def signed_get(
    token: str,
    *,
    echostr: str | None = None,
    timestamp: str | int | None = None,
    nonce: str | None = None,
    signature: str | None = None,
) -> dict[str, str]:
    """The query of WeChat's URL verification (GET): the server must answer ``echostr``
    as its whole body when the signature holds. ``signature`` forges one."""
    ts = str(timestamp if timestamp is not None else int(time.time()))
    nonce = nonce if nonce is not None else new_nonce()
    return {
        "signature": signature if signature is not None else sign(token, ts, nonce),
        "echostr": echostr if echostr is not None else str(secrets.randbelow(10**19)),
        "timestamp": ts,
        "nonce": nonce,
    }


Target = httpx.AsyncClient | str
HEADERS = {"Content-Type": "text/xml", "User-Agent": "Mozilla/4.0"}


def _field(xml: str | bytes, name: str) -> str | None:
    """A top-level text field of a push, by pattern (the XML may be hostile)."""
    text = xml.decode("utf-8", "replace") if isinstance(xml, bytes) else xml
    found = re.search(rf"<{name}>(?:<!\[CDATA\[(.*?)\]\]>|([^<]*))</{name}>", text)
    return None if found is None else (found.group(1) or found.group(2) or "")


async def _post(
    target: Target,
    path: str,
    params: dict[str, str],
    body: str | bytes,
    headers: dict[str, str] | None,
) -> httpx.Response:
    content = body.encode("utf-8") if isinstance(body, str) else body
    all_headers = {**HEADERS, **(headers or {})}
    if isinstance(target, str):
        async with httpx.AsyncClient(base_url=target, timeout=30) as client:
            return await client.post(path, params=params, content=content, headers=all_headers)
    return await target.post(path, params=params, content=content, headers=all_headers)


async def post_plain(
    target: Target,
    xml: str | bytes,
    token: str,
    *,
    path: str = "/wechat",
    openid: str | None = None,
    timestamp: str | int | None = None,
    nonce: str | None = None,
    signature: str | None = None,
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    """A push in plain mode: POST path?signature=&timestamp=&nonce=&openid= with the XML.

    ``target``: an httpx.AsyncClient (e.g. over ASGI) or a base URL. ``openid``: by
    default the XML's FromUserName ("" for none). Forge with ``signature``, an old
    ``timestamp``, a used ``nonce``. The query sent is in ``response.request.url.params``."""
    ts = str(timestamp if timestamp is not None else int(time.time()))
    nonce = nonce if nonce is not None else new_nonce()
    params = {"signature": signature if signature is not None else sign(token, ts, nonce)}
    params |= {"timestamp": ts, "nonce": nonce}
    openid = openid if openid is not None else _field(xml, "FromUserName")
    if openid:
        params["openid"] = openid
    return await _post(target, path, params, xml, headers)


async def post_encrypted(
    target: Target,
    xml: str | bytes,
    token: str,
    aes_key: str,
    app_id: str,
    *,
    path: str = "/wechat",
    openid: str | None = None,
    timestamp: str | int | None = None,
    nonce: str | None = None,
    signature: str | None = None,
    msg_signature: str | None = None,
    payload_app_id: str | None = None,
    to_user: str | None = None,
    compatible: bool = False,
    envelope: str | bytes | None = None,
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    """A push in safe mode: the body ``<xml><ToUserName/><Encrypt/></xml>``, the query
    signature, timestamp, nonce, openid, encrypt_type=aes, msg_signature (over Encrypt).

    Forge with ``signature`` / ``msg_signature``, an old ``timestamp``, a used ``nonce``,
    ``payload_app_id`` (another AppID inside the ciphertext, signed as it should be);
    ``envelope`` replaces the whole body (a malformed or hostile outer XML), signed over
    the Encrypt of ``xml`` still. ``compatible``: compatibility mode, the plaintext fields
    and the Encrypt side by side."""
    ts = str(timestamp if timestamp is not None else int(time.time()))
    nonce = nonce if nonce is not None else new_nonce()
    secret = encrypt(xml, aes_key, payload_app_id or app_id)
    to_user = to_user if to_user is not None else (_field(xml, "ToUserName") or ORIGINAL_ID)
    body: str | bytes
    if envelope is not None:
        body = envelope
    elif compatible:
        plain = xml.decode("utf-8") if isinstance(xml, bytes) else xml
        body = plain.replace("</xml>", f"<Encrypt>{_cdata(secret)}</Encrypt>\n</xml>", 1)
    else:
        body = (
            f"<xml>\n<ToUserName>{_cdata(to_user)}</ToUserName>\n"
            f"<Encrypt>{_cdata(secret)}</Encrypt>\n</xml>"
        )
    params = {"signature": signature if signature is not None else sign(token, ts, nonce)}
    params |= {"timestamp": ts, "nonce": nonce}
    openid = openid if openid is not None else _field(xml, "FromUserName")
    if openid:
        params["openid"] = openid
    params["encrypt_type"] = "aes"
    if msg_signature is None:
        msg_signature = sign(token, ts, nonce, secret)
    params["msg_signature"] = msg_signature
    return await _post(target, path, params, body, headers)
