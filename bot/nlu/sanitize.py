"""Clean what users type before anything else reads it.

The original text is always stored as received; this cleaned copy is what the language
detector and Rasa see. Markup is not touched: it is plain text to us, and every channel
escapes it on output.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

# Zero-width and direction marks: invisible, but they split words and can disguise text.
from rasa_addons.normalise import INVISIBLE

_SPACES = re.compile(r"[ \t\u00a0\u3000]+")
_BLANK_LINES = re.compile(r"\n{3,}")


@dataclass(frozen=True)
class Cleaned:
    text: str
    truncated: bool
    has_words: bool


def clean(raw: str, *, max_chars: int) -> Cleaned:
    text = unicodedata.normalize("NFC", raw).replace("\r\n", "\n").replace("\r", "\n")
    text = INVISIBLE.sub("", text)
    # NUL is stored as "␀" and a lone surrogate as "\ufffd" (no database keeps them in
    # text: bot.db.conversations.storable), and the pipeline reads messages back from the
    # database: they are still no text.
    text = text.replace("\u2400", " ").replace("\ufffd", " ")
    # Control characters (C0, C1) except newline and tab, and lone surrogates (which a
    # JSON body can carry but no UTF-8 text can), become spaces.
    text = "".join(
        " " if unicodedata.category(ch) in ("Cc", "Cs") and ch not in "\n\t" else ch for ch in text
    )
    text = re.sub(r" *\n *", "\n", _SPACES.sub(" ", text))
    text = _BLANK_LINES.sub("\n\n", text).strip()
    truncated = len(text) > max_chars
    if truncated:
        text = text[:max_chars].rstrip()
    has_words = any(ch.isalnum() for ch in text)
    return Cleaned(text=text, truncated=truncated, has_words=has_words)
