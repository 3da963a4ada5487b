"""Which language to answer in.

The order is fixed by DESIGN.md: the user's explicit choice; a confident detection of the
message; the language the conversation already had; the client's language (Telegram's
``language_code``); English. Short or ambiguous messages ("ok", "да", "123") never switch
a conversation's language: they are only used when there is nothing else to go on.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

from lingua import Language, LanguageDetector, LanguageDetectorBuilder

from bot.i18n import DEFAULT_LANGUAGE, normalise_language

_LINGUA = {
    Language.ENGLISH: "en",
    Language.CHINESE: "zh",
    Language.ARABIC: "ar",
    Language.RUSSIAN: "ru",
    Language.FRENCH: "fr",
    Language.SPANISH: "es",
}
# A detection must be at least this sure, and this long, to switch a conversation.
MIN_CONFIDENCE = 0.6
MIN_LETTERS = 8  # letters of an alphabetic script
MIN_HAN = 3  # Han characters carry more meaning each
# With no conversation language yet, a short message may set it if detection is this sure.
FIRST_MESSAGE_CONFIDENCE = 0.9

Source = Literal["chosen", "detected", "conversation", "client", "default"]


@dataclass(frozen=True)
class Detection:
    language: str | None
    confidence: float
    long_enough: bool


@dataclass(frozen=True)
class Decision:
    language: str
    source: Source
    detection: Detection


@lru_cache(maxsize=1)
def detector() -> LanguageDetector:
    # Models ship inside the lingua wheel; nothing is downloaded.
    return LanguageDetectorBuilder.from_languages(*_LINGUA).with_preloaded_language_models().build()


def _letter_counts(text: str) -> tuple[int, int]:
    letters = han = 0
    for ch in text:
        if ch.isalpha():
            if unicodedata.name(ch, "").startswith("CJK"):
                han += 1
            else:
                letters += 1
    return letters, han


def detect(text: str) -> Detection:
    letters, han = _letter_counts(text)
    if letters == 0 and han == 0:
        return Detection(None, 0.0, False)
    values = detector().compute_language_confidence_values(text)
    if not values:
        return Detection(None, 0.0, False)
    best = values[0]
    long_enough = letters >= MIN_LETTERS or han >= MIN_HAN
    return Detection(_LINGUA[best.language], float(best.value), long_enough)


def decide(
    text: str,
    *,
    chosen: str | None,
    conversation: str | None,
    client: str | None,
) -> Decision:
    """Decide the reply language for one message (see the module docstring)."""
    found = detect(text) if not text.startswith("/") else Detection(None, 0.0, False)
    if chosen:
        return Decision(chosen, "chosen", found)
    if found.language and found.confidence >= MIN_CONFIDENCE and found.long_enough:
        return Decision(found.language, "detected", found)
    if conversation:
        return Decision(conversation, "conversation", found)
    if found.language and found.confidence >= FIRST_MESSAGE_CONFIDENCE:
        return Decision(found.language, "detected", found)
    client_lang = normalise_language(client)
    if client_lang:
        return Decision(client_lang, "client", found)
    return Decision(DEFAULT_LANGUAGE, "default", found)
