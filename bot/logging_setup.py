"""Logging for every process of the project: numbers that could be card or passport
numbers are masked before any handler sees them."""

from __future__ import annotations

import logging

from bot.registry.secrets import mask_numbers_in


class MaskNumbers(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = mask_numbers_in(message)
        if masked != message:
            record.msg, record.args = masked, None
        return True


def configure(level: int) -> None:
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for handler in logging.getLogger().handlers:
        handler.addFilter(MaskNumbers())
