"""The ticket number users read out at a counter: YW-2026-000123.

The year it was filed and the ticket's row id, six digits or more: unique without a
counter of its own, short enough to say aloud, and the same in every language. Users
type it with spaces, in lower case, with full-width or Arabic-Indic digits, or without
the dashes; ``find`` reads all of these.
"""

from __future__ import annotations

import re
import unicodedata

from rasa_addons.entities import ascii_digits

PREFIX = "YW"
# "yw 2026 000123", "YW-2026-123", "yw2026000123", "ＹＷ－２０２６－０００１２３".
_NUMBER = re.compile(r"(?<![A-Z0-9])YW[\s\-_./]*(\d{4})[\s\-_./]*(\d{1,9})(?!\d)")


def format_number(*, year: int, ticket_id: int) -> str:
    return f"{PREFIX}-{year:04d}-{ticket_id:06d}"


def find(text: str) -> str | None:
    """The ticket number in a text, written the canonical way, or None."""
    plain = ascii_digits(unicodedata.normalize("NFKC", text)).upper()
    found = _NUMBER.search(plain)
    if found is None:
        return None
    return format_number(year=int(found.group(1)), ticket_id=int(found.group(2)))
