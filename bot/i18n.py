"""User-interface strings in the user's language, through Babel's gettext catalogs.

Catalogs live in locales/<lang>/LC_MESSAGES/messages.po and are compiled to .mo by
``make catalogs`` (part of setup). Policy answers are not here: see bot.answers.store.
"""

from __future__ import annotations

import datetime as dt
import gettext as _gettext
from functools import lru_cache
from pathlib import Path
from typing import Any

from babel import Locale
from babel.dates import format_timedelta
from babel.support import Translations

from bot import texts
from bot.settings import get_settings

SUPPORTED_LANGUAGES: tuple[str, ...] = ("en", "zh", "ar", "ru", "fr", "es")
DEFAULT_LANGUAGE = "en"
RTL_LANGUAGES = frozenset({"ar"})


def normalise_language(code: str | None) -> str | None:
    """Map a client's language tag (``zh-hans``, ``pt_BR``, ``AR``) to a supported code."""
    if not code:
        return None
    base = code.replace("_", "-").split("-", 1)[0].strip().lower()
    return base if base in SUPPORTED_LANGUAGES else None


@lru_cache(maxsize=32)
def translations(lang: str, locales_dir: Path) -> _gettext.NullTranslations:
    # Translations.load falls back to NullTranslations (the English msgid) when a
    # catalog is missing; tests check that every catalog is complete and compiled.
    return Translations.load(str(locales_dir), [lang], domain="messages")


def gettext(lang: str | None, msgid: str, /, **params: Any) -> str:
    """Translate ``msgid`` into ``lang`` and fill its ``%(name)s`` parameters."""
    locales = get_settings().locales_dir
    text = translations(normalise_language(lang) or DEFAULT_LANGUAGE, locales).gettext(msgid)
    return text % params if params else text


def language_name(lang: str) -> str:
    """The language's own name for itself, e.g. ``العربية`` or ``Русский``."""
    name: str = Locale.parse(lang).get_display_name(lang) or lang
    return name[:1].upper() + name[1:]


def text_direction(lang: str | None) -> str:
    return "rtl" if lang in RTL_LANGUAGES else "ltr"


def days_away(lang: str, days: int) -> str:
    """ "in 12 days", "через 12 дней", "3 days ago", "today": Babel knows the plurals."""
    if days == 0:
        return gettext(lang, texts.TODAY)
    return format_timedelta(
        dt.timedelta(days=days), granularity="day", threshold=100_000, add_direction=True,
        locale=lang,
    )  # fmt: skip
