"""Entities with a fixed shape, found by patterns (standard library, and rasa_addons.words).

card_number      a merchant card number: 8-18 digits, spaces or dashes allowed between
                 them, with an optional prefix of up to 3 Latin letters ("YW 1234 5678 90")
passport_number  1-2 capital letters and 6-9 digits ("E12345678", "AB 1234567"), or, right
                 after a word for passport, any 6-12 letters and digits with a digit in it
ticket_number    a number right after a word for ticket or complaint, or "#123", "T-123"
date             3/4/1990, 1990-04-03, 3 April 1990, 1990年4月3日, ٣/٤/١٩٩٠; the value is
                 ISO (1990-04-03) when unambiguous, else "DD/MM/YYYY|MM/DD/YYYY" so that
                 the one who asks can ask back rather than guess. Month names are data:
                 the "months" of every locales/<lang>/words.yml, re-read when they change

Text is normalised first (rasa_addons.normalise: full-width and Arabic-Indic digits to
ASCII), so every way of typing digits is understood. Spans refer to the original text.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

from rasa_addons.normalise import DIGITS
from rasa_addons.words import Words, load_words

log = logging.getLogger(__name__)

# "3 April 1990", "April 3rd, 1990", "12 de marzo de 2001": the month names come from
# locales/<lang>/words.yml (rasa_addons.words); the glue around them (ordinal endings,
# Spanish "de") is shared by every language and stays here.
_WORDY_DATE = (
    r"(?<!\w)(\d{{1,2}})(?:er|st|nd|rd|th)?\s+(?:de\s+)?({months})\.?\s+(?:de\s+)?(\d{{4}})(?!\d)"
    r"|(?<!\w)({months})\.?\s+(\d{{1,2}})(?:st|nd|rd|th)?,?\s+(\d{{4}})(?!\d)"
)
_ISO = re.compile(r"(?<!\d)(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})(?!\d)")
_CJK = re.compile(r"(?<!\d)(\d{4})\s*年\s*(\d{1,2})\s*月\s*(\d{1,2})\s*[日号]")
_NUMERIC = re.compile(r"(?<!\d)(\d{1,2})[/.\-](\d{1,2})[/.\-](\d{4})(?!\d)")
_PASSPORT_WORDS = r"passport|passeport|pasaporte|паспорт\w*|护照|جواز(?:\s+السفر)?|جواز سفري"
_PASSPORT_AFTER_WORD = re.compile(
    # Groups separated by a space or dash each hold a digit: "7512 345678", not "es X123".
    rf"(?:{_PASSPORT_WORDS})\D{{0,20}}?(?<![A-Za-z0-9])"
    r"([A-Za-z]*\d[A-Za-z0-9]*(?:[ -][A-Za-z]*\d[A-Za-z0-9]*)*)(?![A-Za-z0-9])",
    re.IGNORECASE,
)
_PASSPORT_SHAPE = re.compile(r"(?<![A-Za-z0-9])([A-Z]{1,2}[ ]?\d{6,9})(?![A-Za-z0-9])(?![ -]?\d)")
_TICKET = re.compile(
    r"(?:ticket|tiket|тикет\w*|заявк\w*|жалоб\w*|工单|投诉|单号|تذكرة|شكوى|شكوتي|plainte|réclamation"
    r"|reclamation|queja|reclamo|reclamación|dossier|case|complaint)\D{0,12}?(?:№|no\.?|n°|#|номер)?\s*"
    r"([A-Za-z]?-?\d{1,10})(?!\d)"
    r"|(?<![\w#])#\s?(\d{1,10})(?!\d)|(?<![A-Za-z0-9])(T-\d{1,10})(?!\d)",
    re.IGNORECASE,
)
# The optional prefix is upper-case only, so that a word before a number ("is 1234…")
# never becomes part of it.
_CARD = re.compile(r"(?<![A-Za-z0-9])((?:[A-Z]{1,3}[ -]?)?\d(?:[ -]?\d){7,17})(?![A-Za-z0-9])")
_MOBILE = re.compile(r"^1[3-9]\d{9}$")


@dataclass(frozen=True)
class Entity:
    entity: str
    value: str
    start: int
    end: int


def ascii_digits(text: str) -> str:
    """Full-width and Arabic-Indic digits to ASCII, keeping every character's position."""
    out = []
    for ch in text:
        ch = ch.translate(DIGITS)
        if unicodedata.category(ch) == "Nd" and not ch.isascii():
            ch = str(unicodedata.digit(ch))
        out.append(ch)
    return "".join(out)


def date_value(day: int, month: int, year: int) -> str | None:
    try:
        return dt.date(year, month, day).isoformat()
    except ValueError:
        return None


@lru_cache(maxsize=4)
def _month_names(words: tuple[Words, ...]) -> tuple[dict[str, int], re.Pattern[str] | None]:
    """Month name (lower case) -> number, over every language, and the wordy-date pattern.

    A name that means different months in two languages is left out: it dates nothing.
    """
    numbers: dict[str, set[int]] = {}
    for lang in words:
        for form in lang.months:
            for number, name in enumerate(form, 1):
                numbers.setdefault(name.lower(), set()).add(number)
    ambiguous = sorted(name for name, found in numbers.items() if len(found) > 1)
    if ambiguous:
        log.warning("month names left out, they name different months: %s", ambiguous)
    months = {name: min(found) for name, found in numbers.items() if len(found) == 1}
    if not months:
        return months, None
    # Longest first ("mars" before "mar"): the alternation tries the whole name first.
    names = "|".join(re.escape(m) for m in sorted(months, key=lambda m: (-len(m), m)))
    return months, re.compile(_WORDY_DATE.format(months=names), re.IGNORECASE)


def month_numbers(locales: str | os.PathLike[str] | None = None) -> dict[str, int]:
    """Every month name of locales/*/words.yml (lower case) -> its number, 1 to 12."""
    return dict(_month_names(load_words(locales))[0])


def _dates(text: str, locales: str | os.PathLike[str] | None) -> list[Entity]:
    found: list[Entity] = []
    for m in _ISO.finditer(text):
        value = date_value(int(m[3]), int(m[2]), int(m[1]))
        if value:
            found.append(Entity("date", value, m.start(), m.end()))
    for m in _CJK.finditer(text):
        value = date_value(int(m[3]), int(m[2]), int(m[1]))
        if value:
            found.append(Entity("date", value, m.start(), m.end()))
    for m in _NUMERIC.finditer(text):
        a, b, year = int(m[1]), int(m[2]), int(m[3])
        day_first, month_first = date_value(a, b, year), date_value(b, a, year)
        if day_first and month_first and a != b:
            value = f"{a:02d}/{b:02d}/{year}|{b:02d}/{a:02d}/{year}"  # ambiguous: ask back
        else:
            value = day_first or month_first or ""
        if value:
            found.append(Entity("date", value, m.start(), m.end()))
    months, wordy = _month_names(load_words(locales))
    for m in wordy.finditer(text) if wordy else ():
        if m[1]:
            day, month, year = int(m[1]), months[m[2].lower()], int(m[3])
        else:
            day, month, year = int(m[5]), months[m[4].lower()], int(m[6])
        value = date_value(day, month, year)
        if value:
            found.append(Entity("date", value, m.start(), m.end()))
    return found


def _overlaps(span: tuple[int, int], taken: list[Entity]) -> bool:
    return any(span[0] < e.end and e.start < span[1] for e in taken)


def extract(original: str, *, locales: str | os.PathLike[str] | None = None) -> list[Entity]:
    """Every entity in the text, without overlaps; dates first, then tickets, passports, cards.

    ``locales``: where the month names are (rasa_addons.words); the project's code passes
    its settings' locales directory, Rasa takes the default (EXPATBOT_LOCALES).
    """
    text = ascii_digits(unicodedata.normalize("NFKC", original))
    if len(text) != len(original):  # NFKC changed lengths: positions refer to the NFKC text
        original = text
    found = _dates(text, locales)
    for m in _TICKET.finditer(text):
        group = next(g for g in (1, 2, 3) if m[g])
        span = (m.start(group), m.end(group))
        if not _overlaps(span, found):
            found.append(Entity("ticket_number", m[group].upper(), *span))
    for pattern in (_PASSPORT_AFTER_WORD, _PASSPORT_SHAPE):
        for m in pattern.finditer(text):
            span = (m.start(1), m.end(1))
            value = re.sub(r"[\s-]", "", m[1]).upper()
            if 6 <= len(value) <= 12 and not _overlaps(span, found):
                found.append(Entity("passport_number", value, *span))
    for m in _CARD.finditer(text):
        span = (m.start(1), m.end(1))
        value = re.sub(r"[\s-]", "", m[1]).upper()
        if _MOBILE.match(value) or _overlaps(span, found):
            continue
        found.append(Entity("card_number", value, *span))
    return sorted(found, key=lambda e: e.start)
