"""The WeChat official account: callbacks in at /wechat, replies out through the
customer-service message API (bot.channels.wechat_api).

**In.** WeChat posts each message to the gateway and waits 5 seconds for the answer, then
posts it again (three times in all), then tells the user the account "cannot provide
service". So the callback checks, stores and answers ``success`` at once; the real reply
goes through the outbox and the customer-service API, however long Rasa takes. The same
MsgId (for events: the sender, the time and the event) is one message however often it
arrives (the inbox).

Checked before anything is stored, every one refused with nothing kept:
- the ``signature`` over the callback token, timestamp and nonce (and in safe mode the
  ``msg_signature`` over the encrypted body too), compared in constant time;
- the timestamp: at most ``MAX_AGE_S`` old (or ahead);
- the nonce: never seen before (``wechat_nonce``; after the signature, so that forged
  requests cannot fill the table);
- the body: at most ``MAX_BODY_BYTES``, XML without a DTD or entities (defusedxml: an
  entity is never resolved), in safe mode decrypted with the EncodingAESKey by wechatpy,
  which checks that the message is for this AppID.

**Out.** ``deliver`` sends text, split at WeChat's length limit (never mid-character, at a
line or a space where it can), with buttons written as numbered choices that the user can
answer by number (bot.pipeline.handlers.choices). Only what the user's customer-service
window allows is tried (bot.channels.wechat_window): the rest is held until the user
writes again, or, for a kind with a template configured (reminders), sent as a template
message. WeChat's errors get their final state: 45015 (the window closed after all) and
the other refusals fail with their reason, 43004 (the user unfollowed) is blocked, -1 and
45009 are tried again.

**Events.** A follow or a scan of the account's code is a "/start" (the welcome, in the
language WeChat's user info gives); a menu CLICK is its key, pressed as a button
(bot.channels.wechat_menu); an unfollow stops messages and reminders.
"""

from __future__ import annotations

import datetime as dt
import hmac
import logging
import time
from collections.abc import Mapping, Sequence
from typing import Any
from xml.etree.ElementTree import Element

import httpx
from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring
from sqlalchemy import delete
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route
from wechatpy import parse_message  # type: ignore[import-untyped]
from wechatpy.crypto import WeChatCrypto  # type: ignore[import-untyped]
from wechatpy.exceptions import (  # type: ignore[import-untyped]
    InvalidAppIdException,
    InvalidSignatureException,
)
from wechatpy.utils import WeChatSigner  # type: ignore[import-untyped]

from bot.answers.render import to_plain
from bot.channels import wechat_window
from bot.channels.background import BackgroundAnswers
from bot.channels.http_body import read_body
from bot.channels.wechat_api import WeChatApi, WeChatError
from bot.db import conversations, in_transaction, insert_unless_present
from bot.db.models import ChatIdentity, WeChatNonce, utcnow
from bot.delivery.channel import (
    Blocked,
    Delivered,
    DeliveryResult,
    Failed,
    Held,
    Rate,
    RetryLater,
)
from bot.delivery.outbox import Item
from bot.messages import Attachment, AttachmentTooBig, Inbound, Kind
from bot.pipeline.assistant import Assistant
from bot.pipeline.inbox import Receipt

log = logging.getLogger(__name__)

CHANNEL = "wechat"
ROUTE = "/wechat"
# WeChat's messages are small XML documents: anything larger is not one.
MAX_BODY_BYTES = 64 * 1024
MAX_AGE_S = 300
# The customer-service text message's limit (bytes of UTF-8).
TEXT_LIMIT_BYTES = 2048
PER_ACCOUNT = Rate("wechat:account", per_second=20, burst=20)
PER_USER_PER_SECOND, PER_USER_BURST = 1.0, 5
# 45015: the 48 hours after the user's last message are over; 45047: too many messages
# since; 45002: too long; 40003: not a follower's openid.
RETRY = {-1: None, 45009: 60.0, 45011: 5.0}
BLOCKED = {43004, 43019}


def signature_of(*parts: str) -> str:
    """WeChat's signature: SHA-1 over the sorted parts (wechatpy's signer)."""
    signer = WeChatSigner()
    signer.add_data(*parts)
    return str(signer.signature)


def same(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode(), expected.encode())


def split_text(text: str, limit: int = TEXT_LIMIT_BYTES) -> list[str]:
    """The text in pieces of at most ``limit`` bytes of UTF-8, cut at a line end or a space
    when there is one in the piece's second half, never inside a character."""
    pieces: list[str] = []
    rest = text
    while len(rest.encode("utf-8")) > limit:
        cut = len(rest.encode("utf-8")[:limit].decode("utf-8", errors="ignore"))
        window = rest[:cut]
        at = max(window.rfind("\n"), window.rfind(" "))
        if at > cut // 2:
            cut = at + 1
        pieces.append(rest[:cut].rstrip())
        rest = rest[cut:].lstrip()
    if rest or not pieces:
        pieces.append(rest)
    return pieces


def with_choices(text: str, buttons: Sequence[tuple[str, str]]) -> str:
    """Buttons as numbered choices: WeChat's messages have none."""
    if not buttons:
        return text
    lines = [f"{n}. {title}" for n, (title, _payload) in enumerate(buttons, start=1)]
    return text + "\n\n" + "\n".join(lines)


def _child(root: Element, name: str) -> str:
    found = root.find(name)
    return found.text or "" if found is not None else ""


def _event(message: Any) -> str:
    """An event's name, lower case ("subscribe", "click", "scan", ...)."""
    return str(getattr(message, "event", "")).lower()


# The events after which WeChat lets the account send a few messages for a minute.
WINDOW_EVENTS = frozenset(
    {"subscribe", "subscribe_scan", "click", "scan", "scancode_push", "scancode_waitmsg"}
)
# A follow (also by scanning a code with a scene: wechatpy's "subscribe_scan") or a scan
# of the account's code while following: welcomed.
WELCOME_EVENTS = frozenset({"subscribe", "subscribe_scan", "scan"})


def _window_opened_by(message: Any) -> bool | None:
    """What customer-service window this push opens: True for a user's message (48 hours),
    False for a menu click, a follow or a scan (a minute), None for nothing."""
    if message is None:
        return None
    if message.type != "event":
        return True
    return False if _event(message) in WINDOW_EVENTS else None


def to_inbound(message: Any) -> Inbound | None:
    """A parsed WeChat message (wechatpy) as a platform-neutral one; None for what is
    answered by nothing (an unsubscribe, a VIEW of a menu link, a reported location)."""
    openid = str(message.source)
    kind: Kind = "text"
    text = ""
    attachment = None
    msg_type = message.type
    if msg_type == "event":
        event = _event(message)
        message_id = f"{openid}:{message.create_time}:{event}"
        if event in WELCOME_EVENTS:
            text = "/start"
        elif event == "click":
            text, kind = str(getattr(message, "key", "") or ""), "button"
        else:
            return None
    else:
        message_id = str(message.id)
        if msg_type == "text":
            text = str(message.content or "")
        elif msg_type == "image":
            kind = "photo"
            attachment = Attachment(ref=str(message.media_id), mime="image/jpeg")
        elif msg_type == "voice":
            recognised = str(getattr(message, "recognition", "") or "")
            kind, text = ("text", recognised) if recognised else ("voice", "")
        elif msg_type == "location":
            kind = "location"
        elif msg_type in ("video", "shortvideo"):
            kind = "video"
        else:
            kind = "other"
    return Inbound(
        channel=CHANNEL,
        external_id=openid,
        message_id=message_id,
        text=text,
        kind=kind,
        attachment=attachment,
    )


class Refused(Exception):
    """A callback that is not WeChat's, or not for us: refused with this status."""

    def __init__(self, status: int, why: str) -> None:
        super().__init__(why)
        self.status = status


class WeChatChannel:
    name = CHANNEL

    def __init__(
        self,
        assistant: Assistant,
        api: WeChatApi,
        *,
        token: str,
        aes_key: str = "",
        app_id: str,
        templates: Mapping[str, str] | None = None,
    ) -> None:
        self.assistant = assistant
        self.api = api
        # Template ids by outbox kind ("reminder"): what is sent when the window is closed.
        self.templates = {k: v for k, v in (templates or {}).items() if v}
        self._token = token
        self._crypto = WeChatCrypto(token, aes_key, app_id) if aes_key else None
        self._answers = BackgroundAnswers("a WeChat message")
        assistant.fetchers[CHANNEL] = self  # images for complaints

    def routes(self) -> list[Route]:
        return [
            Route(ROUTE, self.verify, methods=["GET"]),
            Route(ROUTE, self.callback, methods=["POST"]),
        ]

    # In ---------------------------------------------------------------------------------

    def _check_signature(self, request: Request) -> tuple[str, str]:
        params = request.query_params
        timestamp, nonce = params.get("timestamp", ""), params.get("nonce", "")
        if not timestamp.isdigit() or not nonce or len(nonce) > 64:
            raise Refused(403, "no timestamp or nonce")
        if not same(params.get("signature", ""), signature_of(self._token, timestamp, nonce)):
            raise Refused(403, "bad signature")
        if abs(time.time() - int(timestamp)) > MAX_AGE_S:
            raise Refused(403, "too old")
        return timestamp, nonce

    async def verify(self, request: Request) -> Response:
        """WeChat's check of the callback URL: echo ``echostr`` when the signature holds."""
        try:
            self._check_signature(request)
        except Refused as refused:
            log.warning("WeChat URL check refused: %s", refused)
            return PlainTextResponse("forbidden", status_code=refused.status)
        return PlainTextResponse(request.query_params.get("echostr", ""))

    async def _message_xml(self, request: Request, timestamp: str, nonce: str) -> str:
        raw = await read_body(request, limit=MAX_BODY_BYTES)
        if raw is None:
            raise Refused(413, "body too large")
        try:
            envelope = fromstring(raw, forbid_dtd=True)
        except (DefusedXmlException, SyntaxError, ValueError) as exc:
            raise Refused(400, f"not XML we accept ({exc.__class__.__name__})") from None
        if self._crypto is None:
            return raw.decode("utf-8")
        encrypted = _child(envelope, "Encrypt")
        given = request.query_params.get("msg_signature", "")
        if not encrypted or not same(given, signature_of(self._token, timestamp, nonce, encrypted)):
            raise Refused(403, "bad msg_signature")
        try:
            plain = self._crypto.decrypt_message({"Encrypt": encrypted}, given, timestamp, nonce)
        except InvalidAppIdException:
            raise Refused(403, "another AppID") from None
        except (InvalidSignatureException, ValueError, KeyError) as exc:
            raise Refused(400, f"not decryptable ({exc.__class__.__name__})") from None
        text = plain if isinstance(plain, str) else bytes(plain).decode("utf-8")
        try:
            fromstring(text.encode("utf-8"), forbid_dtd=True)
        except (DefusedXmlException, SyntaxError, ValueError):
            raise Refused(400, "the decrypted message is not XML we accept") from None
        return text

    async def callback(self, request: Request) -> Response:
        try:
            timestamp, nonce = self._check_signature(request)
            xml = await self._message_xml(request, timestamp, nonce)
            try:
                message = parse_message(xml)
            except Exception:
                message = None
            window = _window_opened_by(message)

            def first_use(session: Session) -> tuple[bool, int]:
                if not _first_use(session, nonce):
                    return False, 0
                if message is None or window is None:
                    return True, 0
                released = wechat_window.opened(
                    session, channel=CHANNEL, openid=str(message.source), by_message=window
                )
                return True, released

            fresh, released = await in_transaction(self.assistant.sessions, first_use)
            if not fresh:
                raise Refused(403, "nonce seen before")
        except Refused as refused:
            log.warning("WeChat callback refused: %s", refused)
            return PlainTextResponse("refused", status_code=refused.status)
        except SQLAlchemyError:
            log.exception("WeChat callback: the database is unavailable")
            return PlainTextResponse("unavailable", status_code=503)
        if released:
            self.assistant.on_outbox()  # what waited for this user's message goes now
        if message is None:
            log.warning("WeChat callback: a message wechatpy cannot read")
            return PlainTextResponse("success")  # nothing to answer; never asked again
        if message.type == "event" and _event(message) == "unsubscribe":
            await in_transaction(
                self.assistant.sessions, lambda s: _unsubscribed(s, str(message.source))
            )
            return PlainTextResponse("success")
        inbound = to_inbound(message)
        if inbound is None:
            return PlainTextResponse("success")
        try:
            receipt = await self.assistant.accept(inbound)
        except SQLAlchemyError:
            log.exception("WeChat message not stored")
            # Not stored, so not acknowledged: WeChat posts it again.
            return PlainTextResponse("unavailable", status_code=503)
        welcome = message.type == "event" and _event(message) in WELCOME_EVENTS
        self._answers.start(self._answer(receipt, inbound.external_id if welcome else None))
        # At once: the reply goes through the customer-service API, whenever it is ready.
        return PlainTextResponse("success")

    async def _answer(self, receipt: Receipt, newcomer: str | None = None) -> None:
        if newcomer is not None and not receipt.duplicate:
            await self._learn_language(receipt.identity_id, newcomer)
        await self.assistant.answer_later(receipt)

    async def _learn_language(self, identity_id: int, openid: str) -> None:
        """A new follower's language, from WeChat's user info, so that the welcome is in
        it (else the center's default). Best effort: the welcome goes out either way."""
        try:
            info = await self.api.user_info(openid)
        except (WeChatError, httpx.HTTPError) as exc:
            log.info("WeChat user info unavailable (%s): the default language", exc)
            return
        language = str(info.get("language") or "")
        if not language:
            return

        def remember(session: Session) -> None:
            identity = session.get(ChatIdentity, identity_id)
            if identity is not None:
                identity.client_language = language[:16]

        await in_transaction(self.assistant.sessions, remember)

    async def drain_tasks(self, timeout: float = 10.0) -> None:
        """Wait for the answers under way (at shutdown, and in tests)."""
        await self._answers.drain(timeout)

    async def fetch(self, attachment: Attachment, *, max_bytes: int) -> bytes:
        """An image the user sent, from the media API (bot.messages.Fetcher)."""
        try:
            return await self.api.media(attachment.ref, max_bytes=max_bytes)
        except WeChatError as exc:
            if exc.errcode == -4:
                raise AttachmentTooBig(max_bytes) from exc
            raise OSError(str(exc)) from exc

    # Out --------------------------------------------------------------------------------

    def rates(self, item: Item) -> Sequence[Rate]:
        return (
            PER_ACCOUNT,
            Rate(f"wechat:user:{item.recipient}", PER_USER_PER_SECOND, PER_USER_BURST),
        )

    async def deliver(self, item: Item) -> DeliveryResult:
        # WeChat shows text as it is: the answers' markup (bold, bullets, links) goes.
        text = to_plain(item.text)
        pieces = split_text(with_choices(text, item.buttons))
        if len(pieces) > wechat_window.MESSAGE_QUOTA:
            return Failed(reason=f"{len(pieces)} messages long: more than WeChat's window allows")
        openid = item.recipient
        why_not = await in_transaction(
            self.assistant.sessions,
            lambda s: wechat_window.reserve(s, openid=openid, count=len(pieces)),
        )
        try:
            if why_not is None:
                for piece in pieces:
                    await self.api.send_text(openid, piece)
            elif item.kind in self.templates:
                # Outside the window only a template message reaches the user.
                await self.api.send_template(
                    openid, self.templates[item.kind], {"first": {"value": text}}
                )
            else:
                return Held(reason=why_not)
        except WeChatError as exc:
            reason = f"WeChat {exc.errcode}: {exc.errmsg}"
            if exc.errcode in RETRY:
                return RetryLater(reason=reason, after_s=RETRY[exc.errcode])
            if exc.errcode in BLOCKED:
                return Blocked(reason=reason)
            return Failed(reason=reason)
        except httpx.HTTPError as exc:
            return RetryLater(reason=f"WeChat unreachable: {exc.__class__.__name__}")
        return Delivered()


def _unsubscribed(session: Session, openid: str) -> None:
    """The user unfollowed: nothing more is sent (as for a Telegram user who blocked the
    bot, until they write again) and reminders stop."""
    identity = conversations.find_identity(session, channel=CHANNEL, external_id=openid)
    if identity is not None:
        identity.blocked_at = utcnow()
        identity.reminders_enabled = False


# A nonce is kept a little longer than a callback may be old.
NONCE_KEPT_S = 2 * MAX_AGE_S


def _first_use(session: Session, nonce: str) -> bool:
    """Record the nonce; False when it was seen before (a replay). Nonces older than any
    callback may be are forgotten on the way."""
    now = utcnow()
    session.execute(
        delete(WeChatNonce).where(WeChatNonce.seen_at < now - dt.timedelta(seconds=NONCE_KEPT_S))
    )
    stmt = insert_unless_present(
        session, WeChatNonce, {"nonce": nonce, "seen_at": now}, conflict_on=["nonce"]
    )
    inserted = session.execute(stmt.returning(WeChatNonce.nonce)).scalar_one_or_none()
    return inserted is not None
