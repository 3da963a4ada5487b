"""Card and passport numbers: compared by keyed hash, shown only masked.

The registry stores HMAC-SHA256(key, normalised number) for comparison and the last
four characters for display, never the number itself. The key comes from the
environment (REGISTRY_HASH_KEY); outside development a missing or placeholder key stops
the process, because a guessable key would let anyone with the database test numbers.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import unicodedata

from rasa_addons.normalise import DIGITS

_SEPARATORS = re.compile(r"[\s\-_./]")


def normalise_number(raw: str) -> str:
    """What a user types, as the registry compares it: "yw 1234-5678" -> "YW12345678"."""
    text = unicodedata.normalize("NFKC", raw).translate(DIGITS)
    return _SEPARATORS.sub("", text).upper()


def number_hash(raw: str, *, key: bytes) -> str:
    return hmac.new(key, normalise_number(raw).encode(), hashlib.sha256).hexdigest()


def digits_only(raw: str) -> str:
    return re.sub(r"\D", "", normalise_number(raw))


def digits_hash(raw: str, *, key: bytes) -> str:
    """The hash of a number's digits alone ("YW 2016-123" and "2016123" agree)."""
    return hmac.new(key, b"digits:" + digits_only(raw).encode(), hashlib.sha256).hexdigest()


def last4(raw: str) -> str:
    return normalise_number(raw)[-4:]


def mask(raw_or_last4: str) -> str:
    """Shown in replies, logs and the console: "••••9012"."""
    tail = normalise_number(raw_or_last4)[-4:]
    return "••••" + tail


_LONG_NUMBER = re.compile(r"(?<![A-Za-z0-9])([A-Za-z]{0,3}\d(?:[ -]?\d){5,})(?![A-Za-z0-9])")


def mask_numbers_in(text: str) -> str:
    """Mask every run of 6+ digits (with an optional letter prefix) in free text."""
    return _LONG_NUMBER.sub(lambda m: mask(m.group(1)), text)


def birth_date_hash(iso_date: str, *, key: bytes) -> str:
    """The keyed hash of a date of birth (ISO 1990-04-03): what a chat's answer becomes
    before it is stored or reaches Rasa, compared with the registry's date."""
    return hmac.new(key, b"dob:" + iso_date.encode(), hashlib.sha256).hexdigest()


def last4_hash(raw: str, *, key: bytes) -> str:
    """The keyed hash of a passport number's last four characters."""
    return hmac.new(key, b"last4:" + last4(raw).encode(), hashlib.sha256).hexdigest()
