"""References: what stands in for a card number, a passport number or a date of birth.

A chat proves who it is with numbers and a date that must never be kept or passed on in
clear: not in the transcript, not in Rasa's conversation state, not in a log. The
gateway replaces them in every inbound message before the message is stored, with
keyed hashes (bot.records.registry.secrets) that the action server compares with the registry:

    cardref:n:<hash>    a card number with its letter prefix (compared exactly)
    cardref:d:<hash>    a card number's digits alone (may match more than one card)
    passref:p:<hash>    a whole passport number
    passref:l:<hash>    the last four characters of a passport number (the link form)
    dobref:<hash>       a date of birth; "<hash>|<hash>" for both readings of 3/4/1990
    dobref:invalid      a date no one can have been born on (before 1900, in the future)

What is replaced: every card and passport number, wherever it is typed; a date when the
link form waits for an answer (``awaiting`` is one of LINK_AWAITING) or when the same
message holds a card or passport number. Other dates ("my visa ends on 10 December")
stay as typed. Both sides import this module: the gateway to replace, the actions to
read the references back. The tokens' format is part of the gateway-actions
contract (bot.protocol).
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from collections.abc import Callable

from bot.protocol import (
    AWAITING_CARD,
    AWAITING_PASSPORT,
    BIRTH,
    CARD,
    INVALID,
    LINK_AWAITING,
    PASSPORT,
    birth_token,
    card_token,
    passport_token,
)
from bot.records.registry.secrets import (
    birth_date_hash,
    digits_hash,
    last4_hash,
    normalise_number,
    number_hash,
)
from bot.settings import get_settings
from rasa_addons import entities

__all__ = ["BIRTH", "CARD", "INVALID", "LINK_AWAITING", "PASSPORT"]

EARLIEST_BIRTH = dt.date(1900, 1, 1)
_WHOLE_CARD = re.compile(r"^[A-Z]{0,3}\d{8,18}$")
_WHOLE_LAST4 = re.compile(r"^(?=.*\d)[A-Z0-9]{4,12}$")
# A card number whose letter prefix is typed in lower case and joined to the digits
# ("yw2016001234"): rasa_addons.entities takes only an upper-case prefix, so that a word
# before a number ("is 1234 5678") never becomes part of it; joined letters are safe.
_JOINED_PREFIX_CARD = re.compile(
    r"(?<![A-Za-z0-9])([A-Za-z]{1,3}\d(?:[ -]?\d){7,17})(?![A-Za-z0-9])"
)


def _extract(text: str) -> list[entities.Entity]:
    """rasa_addons.entities.extract, with the month names of the settings' locales (the
    same words.yml as the Rasa server's, so both read the same dates)."""
    return entities.extract(text, locales=get_settings().locales_dir)


def card_reference(raw: str, *, key: bytes) -> str:
    """A typed card number's reference (without the ``cardref:`` token).

    With its letter prefix the card is compared exactly; digits alone are compared with
    the digits of every card, which can match cards of more than one person.
    """
    number = normalise_number(raw)
    if any(ch.isalpha() for ch in number):
        return "n:" + number_hash(number, key=key)
    return "d:" + digits_hash(number, key=key)


def passport_reference(raw: str, *, key: bytes) -> str:
    return "p:" + number_hash(raw, key=key)


def last4_reference(raw: str, *, key: bytes) -> str:
    return "l:" + last4_hash(raw, key=key)


def _readings(value: str) -> list[dt.date]:
    """The dates an entity value stands for: ISO, or "DD/MM/YYYY|MM/DD/YYYY" (ambiguous)."""
    if "|" not in value:
        return [dt.date.fromisoformat(value)]
    return [dt.datetime.strptime(v, "%d/%m/%Y").date() for v in value.split("|")]


def birth_reference(value: str, *, key: bytes, today: dt.date | None = None) -> str:
    """The reference of a date entity's value: each plausible reading, hashed.

    Both readings of an ambiguous date (3/4/1990) are kept: the registry decides which
    one fits the card, and when both fit two people the form asks for the passport.
    """
    today = today or dt.date.today()
    plausible = [d for d in _readings(value) if EARLIEST_BIRTH <= d <= today]
    if not plausible:
        return INVALID
    return "|".join(birth_date_hash(d.isoformat(), key=key) for d in plausible)


def protect(
    text: str,
    *,
    key: bytes,
    awaiting: str | None,
    today: dt.date | None = None,
    keep: Callable[[str], bool] | None = None,
) -> str:
    """The text with every card and passport number, and every date of birth, replaced
    by its reference (see the module docstring); the rest stays as typed, so that Rasa
    still reads the words around them. ``keep`` spares a number shaped like a card that
    is something else the chat may name in clear (its own ticket's number, which has
    the shape of a card number: bot.pipeline.inbox decides)."""
    norm = unicodedata.normalize("NFKC", text)
    whole = normalise_number(norm)
    if awaiting == AWAITING_CARD and _WHOLE_CARD.match(whole):
        return CARD + card_reference(whole, key=key)
    found = _extract(norm)
    if awaiting == AWAITING_PASSPORT and not found and _WHOLE_LAST4.match(whole):
        return PASSPORT + last4_reference(whole, key=key)
    spans: list[tuple[int, int, str]] = []
    spared = keep or (lambda _raw: False)
    for e in found:
        if e.entity == "card_number" and spared(norm[e.start : e.end]):
            continue
        if e.entity == "card_number":
            spans.append((e.start, e.end, CARD + card_reference(e.value, key=key)))
        elif e.entity == "passport_number":
            spans.append((e.start, e.end, PASSPORT + passport_reference(e.value, key=key)))
    for m in _JOINED_PREFIX_CARD.finditer(norm):
        if spared(m[1]):
            continue
        if not any(m.start(1) < end and start < m.end(1) for start, end, _ in spans):
            spans.append((m.start(1), m.end(1), CARD + card_reference(m[1], key=key)))
    if spans or awaiting in LINK_AWAITING:
        for e in found:
            if e.entity == "date":
                ref = BIRTH + birth_reference(e.value, key=key, today=today)
                spans.append((e.start, e.end, ref))
    if not spans:
        return text
    out = norm
    for start, end, ref in sorted(spans, reverse=True):
        # A space before a reference that follows a word or a colon ("卡号:YW..."), and
        # after one that a word follows: a reference is a word of its own, for Rasa's
        # tokenizer and for the readers of bot.protocol.
        before = " " if start > 0 and not out[start - 1].isspace() else ""
        after = " " if end < len(out) and not out[end].isspace() else ""
        out = out[:start] + before + ref + after + out[end:]
    return out


def card_reference_in(text: str, *, key: bytes) -> str | None:
    """The card reference in an answer: put there by the gateway, or typed as a number
    (the action server may be asked by something other than our gateway, e.g. tests)."""
    token = card_token(text)
    if token:
        return token
    whole = normalise_number(text)
    if _WHOLE_CARD.match(whole):
        return card_reference(whole, key=key)
    number = next((e.value for e in _extract(text) if e.entity == "card_number"), None)
    return card_reference(number, key=key) if number else None


def birth_reference_in(text: str, *, key: bytes, today: dt.date | None = None) -> str | None:
    """The date-of-birth reference in an answer (``INVALID`` for an impossible date)."""
    token = birth_token(text)
    if token:
        return token
    dates = [e.value for e in _extract(text) if e.entity == "date"]
    return birth_reference(dates[0], key=key, today=today) if dates else None


def passport_reference_in(text: str, *, key: bytes) -> str | None:
    """The passport reference in an answer: the whole number, or its last four."""
    token = passport_token(text)
    if token:
        return token
    typed = normalise_number(text)
    if typed.isalnum() and 4 <= len(typed) <= 12:
        return last4_reference(typed, key=key)
    return None


def birth_matches(reference: str, birth_hash: str) -> bool:
    """Whether a date-of-birth reference stands for the registry's hashed date of birth
    (either of its readings)."""
    if reference == INVALID:
        return False
    return birth_hash in reference.split("|")


def passport_matches(reference: str, *, passport_hash: str, last4: str, key: bytes) -> bool:
    kind, _, value = reference.partition(":")
    if kind == "p":
        return value == passport_hash
    if kind == "l":
        return value == last4_hash(last4, key=key)
    return False
