"""Logging for every process of the project: numbers that could be card or passport
numbers are masked, and database errors lose their details, before any handler sees
them."""

from __future__ import annotations

import logging
import traceback

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


FILTERS = (HideDatabaseDetails, MaskNumbers)


def add_filters(handler: logging.Handler) -> None:
    for kind in FILTERS:
        handler.addFilter(kind())


def configure(level: int) -> None:
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for handler in logging.getLogger().handlers:
        add_filters(handler)
