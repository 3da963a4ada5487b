"""Logging for every process of the project: numbers that could be card or passport
numbers are masked, and database errors lose their details, before any handler sees
them. Each line carries the public id of the conversation being handled ("-" outside a
turn): the id Rasa and the action server know the chat by, never a platform's user id.

LOG_FORMAT=json writes one JSON object per line (what a log collector reads: time in
UTC, level, logger, conversation, process, message, exception); anything else, text.
"""

from __future__ import annotations

import json
import logging
import os
import time
import traceback
from contextvars import ContextVar

from sqlalchemy.exc import StatementError

from bot.records.registry.secrets import mask_numbers_in


class MaskNumbers(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = mask_numbers_in(message)
        if masked != message:
            record.msg, record.args = masked, None
        return True


class HideDatabaseDetails(logging.Filter):
    """A database error's text can hold what was written: SQLAlchemy's parameters are
    hidden by the engine (bot.db), but PostgreSQL's own DETAIL line repeats the values
    of a violated constraint ("Key (channel, external_id)=(webchat, <cookie>)"). Such an
    error is logged as its kind, its SQLSTATE and the stack, never its text."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if isinstance(exc, StatementError):
            orig = getattr(exc, "orig", None)
            code = getattr(getattr(orig, "diag", None), "sqlstate", None) or getattr(
                orig, "sqlite_errorname", ""
            )
            stack = "".join(traceback.format_tb(exc.__traceback__))
            record.msg = (
                f"{record.getMessage()} [{type(exc).__name__}: {type(orig).__name__} "
                f"{code}]\n{stack}".rstrip()
            )
            record.args, record.exc_info, record.exc_text = None, None, None
        return True


# The conversation a turn is about (bot.pipeline.assistant sets it around each turn).
CONVERSATION: ContextVar[str] = ContextVar("conversation", default="-")


class AddConversation(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.conversation = CONVERSATION.get()
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line; the message is already masked by the filters."""

    converter = staticmethod(time.gmtime)

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S") + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "conversation": getattr(record, "conversation", "-"),
            "process": record.process,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(conversation)s]: %(message)s"
FILTERS = (HideDatabaseDetails, MaskNumbers, AddConversation)


def add_filters(handler: logging.Handler) -> None:
    for kind in FILTERS:
        handler.addFilter(kind())


def configure(level: int, *, fmt: str | None = None) -> None:
    fmt = fmt if fmt is not None else os.environ.get("LOG_FORMAT", "text")
    logging.basicConfig(level=level, format=TEXT_FORMAT)
    for handler in logging.getLogger().handlers:
        add_filters(handler)
        if fmt == "json":
            handler.setFormatter(JsonFormatter())
