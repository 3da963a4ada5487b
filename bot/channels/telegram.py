"""Telegram adapter: python-telegram-bot 22, polling in development.

Commands (/start, /help, /language) and inline-keyboard buttons take the same core path
as typed text. Replies use Telegram's HTML parse mode with every character escaped
(bot.answers.render), and a typing indicator shows while the assistant thinks.
"""

from __future__ import annotations

import datetime as dt
import logging

from sqlalchemy.orm import Session, sessionmaker
from telegram import (
    BotCommand,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Update,
)
from telegram.constants import ChatAction, ParseMode
from telegram.error import Forbidden, TelegramError
from telegram.ext import (
    Application,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    filters,
)

from bot import texts
from bot.answers.render import to_html
from bot.db.models import ChatIdentity
from bot.i18n import SUPPORTED_LANGUAGES, gettext
from bot.jobs.alerts import forward_alerts
from bot.jobs.reminders import Blocked, run_reminders
from bot.messages import Button, Inbound, Kind, Outbound
from bot.pipeline.assistant import Assistant

log = logging.getLogger(__name__)
CALLBACK_DATA_LIMIT = 64  # bytes, Telegram's limit for inline button data


def keyboard(buttons: tuple[Button, ...]) -> InlineKeyboardMarkup | None:
    usable = [b for b in buttons if len(b.payload.encode()) <= CALLBACK_DATA_LIMIT]
    if not usable:
        return None
    # Short labels two to a row, long ones alone, so that labels stay readable on phones.
    rows: list[list[InlineKeyboardButton]] = []
    for b in usable:
        btn = InlineKeyboardButton(b.title[:64], callback_data=b.payload)
        if rows and len(rows[-1]) == 1 and len(b.title) <= 18 and len(rows[-1][0].text) <= 18:
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


# Every command goes to the core, which maps it to an intent or handles it (bot.pipeline.assistant).
COMMANDS = ["start", "help", "menu", "language", "link", "unlink", "reminders", "forget", "cancel"]


class TelegramChannel:
    name = "telegram"

    def __init__(self, assistant: Assistant) -> None:
        self.assistant = assistant

    def register(self, app: Application) -> None:  # type: ignore[type-arg]
        app.add_handler(CommandHandler(COMMANDS, self.on_message))
        app.add_handler(CallbackQueryHandler(self.on_button))
        app.add_handler(MessageHandler(filters.ALL & ~filters.StatusUpdate.ALL, self.on_message))
        app.add_error_handler(self.on_error)

    async def on_message(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        msg, user, chat = update.effective_message, update.effective_user, update.effective_chat
        if msg is None or user is None or chat is None:
            return
        await self._typing(context, chat.id)
        inbound = Inbound(
            channel=self.name,
            external_id=str(user.id),
            text=msg.text or msg.caption or "",
            kind=_kind(update),
            client_language=user.language_code,
        )
        await self.deliver_to_chat(context, chat.id, await self.assistant.handle(inbound))

    async def on_button(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        query, user, chat = update.callback_query, update.effective_user, update.effective_chat
        if query is None or user is None or chat is None:
            return
        await query.answer()  # stops the button's loading spinner
        await self._typing(context, chat.id)
        inbound = Inbound(
            channel=self.name,
            external_id=str(user.id),
            text=query.data or "",
            kind="button",
            client_language=user.language_code,
        )
        await self.deliver_to_chat(context, chat.id, await self.assistant.handle(inbound))

    async def _typing(self, context: ContextTypes.DEFAULT_TYPE, chat_id: int) -> None:
        try:
            await context.bot.send_chat_action(chat_id, ChatAction.TYPING)
        except TelegramError:
            log.debug("typing indicator failed", exc_info=True)

    async def deliver_to_chat(
        self, context: ContextTypes.DEFAULT_TYPE, chat_id: int, replies: list[Outbound]
    ) -> None:
        for reply in replies:
            await context.bot.send_message(
                chat_id,
                to_html(reply.text),
                parse_mode=ParseMode.HTML,
                reply_markup=keyboard(reply.buttons),
                disable_web_page_preview=True,
            )

    async def on_error(self, update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        log.error("telegram handler failed", exc_info=context.error)


async def set_commands(app: Application) -> None:  # type: ignore[type-arg]
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
        ]
        await app.bot.set_my_commands(commands, language_code=None if lang == "en" else lang)


def build_application(token: str, assistant: Assistant, *, base_url: str) -> Application:  # type: ignore[type-arg]
    app = Application.builder().token(token).base_url(base_url).build()
    TelegramChannel(assistant).register(app)
    return app


REMINDER_TIME = dt.time(9, 0, tzinfo=dt.timezone(dt.timedelta(hours=8)))  # 09:00 in Yiwu


def schedule_reminders(app: Application, sessions: sessionmaker[Session]) -> None:  # type: ignore[type-arg]
    """The daily reminder job (python-telegram-bot's JobQueue), at 09:00 China time."""
    if app.job_queue is None:  # pragma: no cover - the job-queue extra is a dependency
        log.error("no JobQueue: reminders are not scheduled")
        return

    async def send(chat: ChatIdentity, text: str) -> None:
        if chat.channel != "telegram":
            return
        try:
            await app.bot.send_message(
                int(chat.external_id), to_html(text), parse_mode=ParseMode.HTML
            )
        except Forbidden as exc:  # the user blocked the bot
            raise Blocked from exc

    async def job(context: ContextTypes.DEFAULT_TYPE) -> None:
        summary = await run_reminders(sessions, today=dt.date.today(), send=send)
        log.info(
            "reminders: %s due, %s sent, %s blocked", summary.due, summary.sent, summary.blocked
        )

    app.job_queue.run_daily(job, time=REMINDER_TIME, name="reminders")


ALERT_INTERVAL_S = 60.0


def schedule_staff_alerts(
    app: Application,  # type: ignore[type-arg]
    sessions: sessionmaker[Session],
    *,
    chat_id: str,
    first_s: float = 5.0,
) -> None:
    """Forward new staff alerts (lockouts) to the staff's Telegram chat every minute."""
    if app.job_queue is None:  # pragma: no cover - the job-queue extra is a dependency
        log.error("no JobQueue: staff alerts are not forwarded")
        return

    async def send(text: str) -> None:
        await app.bot.send_message(chat_id, text)

    async def job(context: ContextTypes.DEFAULT_TYPE) -> None:
        sent = await forward_alerts(sessions, send=send)
        if sent:
            log.info("staff alerts: %s sent to the staff chat", sent)

    app.job_queue.run_repeating(job, interval=ALERT_INTERVAL_S, first=first_s, name="alerts")
