"""Telegram: python-telegram-bot 22, polling in development, a webhook in production.

Every update becomes an :class:`Inbound` whose message id is the update's ``update_id``;
it is stored (bot.pipeline.Assistant.accept) before Telegram gets its acknowledgement, and
answered afterwards: every reply, like every reminder or alert, leaves through the outbox
and this channel's ``deliver``.

- **Polling** (no ``TELEGRAM_WEBHOOK_SECRET``): python-telegram-bot's updater fetches the
  updates and hands each to ``on_update`` (a TypeHandler, so that tests can feed updates
  offline with ``Application.process_update``).
- **Webhook** (``TELEGRAM_WEBHOOK_SECRET`` set): the gateway's own ASGI app serves
  ``POST /telegram/webhook``, as in python-telegram-bot's custom-webhook example (the
  application is built with ``updater(None)``). A request without the secret header, or
  with another value, gets 403 and nothing is read or stored; a stored update gets 200.
  ``expatbot telegram set-webhook URL`` registers the address once, at deploy time.

Only private chats are served: a user's own records must never be shown in a group.
Replies use Telegram's HTML parse mode with every character escaped (bot.answers.render).
"""

from __future__ import annotations

import datetime as dt
import hmac
import json
import logging
from collections.abc import Sequence

from sqlalchemy.exc import SQLAlchemyError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from telegram import (
    Bot,
    BotCommand,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    LinkPreviewOptions,
    Update,
)
from telegram.constants import ChatAction, ChatType, ParseMode
from telegram.error import BadRequest, Forbidden, RetryAfter, TelegramError
from telegram.ext import Application, ContextTypes, TypeHandler

from bot import texts
from bot.answers.render import to_html
from bot.channels.background import BackgroundAnswers
from bot.channels.http_body import read_body
from bot.delivery.channel import Blocked, Delivered, DeliveryResult, Failed, Rate, RetryLater
from bot.delivery.outbox import Item
from bot.i18n import SUPPORTED_LANGUAGES, gettext
from bot.messages import Attachment, AttachmentTooBig, Inbound, Kind
from bot.pipeline.assistant import Assistant
from bot.pipeline.inbox import Receipt
from bot.protocol import BUTTON_PAYLOAD_MAX_BYTES, BUTTON_TITLE_MAX_CHARS

log = logging.getLogger(__name__)

CHANNEL = "telegram"
WEBHOOK_PATH = "/telegram/webhook"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
# Only what the assistant handles; set explicitly for polling and for the webhook.
ALLOWED_UPDATES = ("message", "callback_query")
# Telegram: about 30 messages a second per bot, and about one a second per chat, short
# bursts allowed (https://core.telegram.org/bots/faq#my-bot-is-hitting-limits-how-do-i-avoid-this).
# 25 a second: sends leave at their booked moments, but arrive with the network's jitter,
# and at 30 Telegram would see up to 35 in some second (bench/outbox_throughput.py).
PER_BOT = Rate("telegram:bot", per_second=25, burst=1)
PER_CHAT_PER_SECOND, PER_CHAT_BURST = 1.0, 3
# A Telegram update is a few kilobytes; anything far bigger is not one.
MAX_UPDATE_BYTES = 1024 * 1024
TEXT_LIMIT = 4096  # characters of one message, after entities are parsed


def keyboard(buttons: Sequence[tuple[str, str]]) -> InlineKeyboardMarkup | None:
    usable = []
    for title, payload in buttons:
        if not payload or len(payload.encode()) > BUTTON_PAYLOAD_MAX_BYTES:
            # bot.protocol refuses such a button where it is built; one that got here
            # anyway is left out of the keyboard, loudly.
            log.error("button left out: payload of %d bytes", len(payload.encode()))
            continue
        usable.append((title, payload))
    if not usable:
        return None
    # Short labels two to a row, long ones alone, so that labels stay readable on phones.
    rows: list[list[InlineKeyboardButton]] = []
    for title, payload in usable:
        btn = InlineKeyboardButton(title[:BUTTON_TITLE_MAX_CHARS], callback_data=payload)
        if rows and len(rows[-1]) == 1 and len(title) <= 18 and len(rows[-1][0].text) <= 18:
            rows[-1].append(btn)
        else:
            rows.append([btn])
    return InlineKeyboardMarkup(rows)


def _kind(update: Update) -> Kind:
    msg = update.effective_message
    if msg is None:
        return "other"
    if msg.sticker:
        return "sticker"
    if msg.photo:
        return "photo"
    if msg.voice or msg.audio:
        return "voice"
    if msg.video or msg.video_note or msg.animation:
        return "video"
    if msg.document:
        return "file"
    if msg.location or msg.venue:
        return "location"
    return "text" if msg.text is not None else "other"


def _attachment(update: Update) -> Attachment | None:
    """A photo (its largest size) or a document, as a reference to fetch later."""
    msg = update.message
    if msg is None:
        return None
    if msg.photo:
        largest = msg.photo[-1]
        return Attachment(
            ref=largest.file_id, size=largest.file_size, mime="image/jpeg",
            album=msg.media_group_id,
        )  # fmt: skip
    if msg.document:
        doc = msg.document
        return Attachment(
            ref=doc.file_id, name=doc.file_name, mime=doc.mime_type, size=doc.file_size,
            album=msg.media_group_id,
        )  # fmt: skip
    return None


def to_inbound(update: Update) -> Inbound | None:
    """The update as a platform-neutral message, or None when it is none of ours (a
    group chat, an edited message, a channel post)."""
    user, chat = update.effective_user, update.effective_chat
    if user is None or chat is None or chat.type != ChatType.PRIVATE:
        return None
    message_id = str(update.update_id)
    if update.callback_query is not None:
        return Inbound(
            channel=CHANNEL,
            external_id=str(user.id),
            message_id=message_id,
            text=update.callback_query.data or "",
            kind="button",
            client_language=user.language_code,
        )
    msg = update.message
    if msg is None:
        return None
    return Inbound(
        channel=CHANNEL,
        external_id=str(user.id),
        message_id=message_id,
        text=msg.text or msg.caption or "",
        kind=_kind(update),
        client_language=user.language_code,
        attachment=_attachment(update),
    )


def _parse_update(raw: bytes, bot: Bot) -> Update | None:
    """The update in a webhook's body, or None when the body is not one."""
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return None
    if not isinstance(data, dict) or type(data.get("update_id")) is not int:
        return None
    try:
        return Update.de_json(data, bot)
    except (ValueError, TypeError, KeyError, AttributeError, TelegramError):
        return None


class TelegramChannel:
    name = CHANNEL

    def __init__(self, assistant: Assistant, application: Application) -> None:  # type: ignore[type-arg]
        self.assistant = assistant
        self.application = application
        self._answers = BackgroundAnswers("a Telegram update")

    @property
    def bot(self) -> Bot:
        bot: Bot = self.application.bot
        return bot

    # In ------------------------------------------------------------------------------

    async def on_update(self, update: Update, _context: ContextTypes.DEFAULT_TYPE) -> None:
        """An update from polling (or ``process_update``): stored, then answered."""
        inbound = to_inbound(update)
        if inbound is None:
            return
        # Stored here, in the order of the updates; answered in the background, so that
        # one chat's slow turn does not hold up the others.
        receipt = await self.assistant.accept(inbound)
        self._answers.start(self._answer(update, receipt))

    async def _answer(self, update: Update, receipt: Receipt) -> None:
        if update.callback_query is not None:
            try:
                await update.callback_query.answer()  # stops the button's loading spinner
            except TelegramError:
                log.debug("callback query not answered", exc_info=True)
        if not receipt.duplicate and update.effective_chat is not None:
            try:
                await self.bot.send_chat_action(update.effective_chat.id, ChatAction.TYPING)
            except TelegramError:
                log.debug("typing indicator failed", exc_info=True)
        await self.assistant.answer_later(receipt)

    def webhook_route(self, secret: str) -> Route:
        async def webhook(request: Request) -> Response:
            given = request.headers.get(SECRET_HEADER, "")
            if not hmac.compare_digest(given.encode(), secret.encode()):
                return JSONResponse({"error": "forbidden"}, status_code=403)
            raw = await read_body(request, limit=MAX_UPDATE_BYTES)
            if raw is None:
                return JSONResponse({"error": "update too large"}, status_code=413)
            update = _parse_update(raw, self.bot)
            if update is None:
                return JSONResponse({"error": "not a Telegram update"}, status_code=400)
            inbound = to_inbound(update)
            if inbound is None:
                return Response(status_code=200)  # not for us; Telegram must not resend it
            try:
                receipt = await self.assistant.accept(inbound)
            except SQLAlchemyError:
                log.exception("Telegram update %s not stored", update.update_id)
                # Not stored, so not acknowledged: Telegram delivers it again.
                return JSONResponse({"error": "not stored"}, status_code=503)
            self._answers.start(self._answer(update, receipt))
            return Response(status_code=200)

        return Route(WEBHOOK_PATH, webhook, methods=["POST"])

    async def drain_tasks(self, timeout: float = 10.0) -> None:
        """Wait for the answers under way (at shutdown, and in tests)."""
        await self._answers.drain(timeout)

    async def fetch(self, attachment: Attachment, *, max_bytes: int) -> bytes:
        """The file's bytes from the Bot API (getFile, then the download), refused beyond
        ``max_bytes`` before it is downloaded when Telegram says its size."""
        file = await self.bot.get_file(attachment.ref)
        if file.file_size is not None and file.file_size > max_bytes:
            raise AttachmentTooBig(file.file_size)
        data = bytes(await file.download_as_bytearray())
        if len(data) > max_bytes:
            raise AttachmentTooBig(len(data))
        return data

    # Out -----------------------------------------------------------------------------

    def rates(self, item: Item) -> Sequence[Rate]:
        return (
            PER_BOT,
            Rate(f"telegram:chat:{item.recipient}", PER_CHAT_PER_SECOND, PER_CHAT_BURST),
        )

    async def deliver(self, item: Item) -> DeliveryResult:
        try:
            await self.bot.send_message(
                int(item.recipient),
                to_html(item.text),
                parse_mode=ParseMode.HTML,
                reply_markup=keyboard(item.buttons),
                link_preview_options=LinkPreviewOptions(is_disabled=True),
            )
        except RetryAfter as exc:
            wait = exc.retry_after  # an int until python-telegram-bot 23, then a timedelta
            seconds = wait.total_seconds() if isinstance(wait, dt.timedelta) else float(wait)
            return RetryLater(reason=f"Telegram flood control ({seconds:g}s)", after_s=seconds)
        except Forbidden as exc:  # the user blocked the bot, or deleted their account
            return Blocked(reason=f"Telegram: {exc.message}")
        except BadRequest as exc:  # chat not found, message refused: sending again is no use
            return Failed(reason=f"Telegram: {exc.message}")
        except TelegramError as exc:  # network errors, timeouts, Telegram's own 5xx
            return RetryLater(reason=f"Telegram: {exc.__class__.__name__}: {exc.message}")
        return Delivered()


async def set_commands(bot: Bot) -> None:
    """The command menu, in every supported language (Telegram picks by the user's client)."""
    for lang in SUPPORTED_LANGUAGES:
        commands = [
            BotCommand("start", gettext(lang, texts.COMMAND_START)),
            BotCommand("language", gettext(lang, texts.COMMAND_LANGUAGE)),
            BotCommand("help", gettext(lang, texts.COMMAND_HELP)),
            BotCommand("link", gettext(lang, texts.COMMAND_LINK)),
            BotCommand("reminders", gettext(lang, texts.COMMAND_REMINDERS)),
            BotCommand("unlink", gettext(lang, texts.COMMAND_UNLINK)),
            BotCommand("forget", gettext(lang, texts.COMMAND_FORGET)),
            BotCommand("bot", gettext(lang, texts.COMMAND_BOT)),
        ]
        await bot.set_my_commands(commands, language_code=None if lang == "en" else lang)


def build_application(token: str, *, base_url: str, polling: bool) -> Application:  # type: ignore[type-arg]
    """python-telegram-bot's application: with its updater for polling, without one
    (``updater(None)``) when updates arrive at the gateway's webhook route."""
    builder = Application.builder().token(token).base_url(base_url)
    if base_url.endswith("/bot"):
        # Files come from <server>/file/bot<token>/<path> (a fake Bot API's too).
        builder = builder.base_file_url(base_url.removesuffix("bot") + "file/bot")
    if not polling:
        builder = builder.updater(None)
    return builder.build()


def build_channel(
    assistant: Assistant, *, token: str, base_url: str, polling: bool
) -> TelegramChannel:
    app = build_application(token, base_url=base_url, polling=polling)
    channel = TelegramChannel(assistant, app)
    assistant.fetchers[channel.name] = channel  # photos and documents for complaints
    app.add_handler(TypeHandler(Update, channel.on_update))
    app.add_error_handler(_on_error)
    return channel


async def _on_error(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
    log.error("telegram handler failed", exc_info=context.error)
