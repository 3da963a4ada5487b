"""Which language to answer in.

The order is fixed by DESIGN.md: the user's explicit choice; a confident detection of the
message; the language the conversation already had; the client's language (Telegram's
``language_code``); English. Short or ambiguous messages ("ok", "merci", "123") never
switch a conversation's language: they are only used when there is nothing else to go on.
A message in a script that only one of our languages writes (Han, Cyrillic, Arabic) is not
ambiguous, however short: "谢谢", "да" or "شكرا" switches the conversation (issue 9).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

from lingua import Language, LanguageDetector, LanguageDetectorBuilder

from bot.i18n import DEFAULT_LANGUAGE, normalise_language
from bot.nlu import latin_langid
from bot.protocol import ANY_REFERENCE
from bot.settings import get_settings
from rasa_addons.words import Words, load_words

_LINGUA = {
    Language.ENGLISH: "en",
    Language.CHINESE: "zh",
    Language.ARABIC: "ar",
    Language.RUSSIAN: "ru",
    Language.FRENCH: "fr",
    Language.SPANISH: "es",
}
# A detection must be at least this sure, and this long, to switch a conversation.
MIN_CONFIDENCE = 0.5
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
    # Decided by the script alone (Han, Cyrillic, Arabic): certain at any length.
    by_script: bool = False


@dataclass(frozen=True)
class Decision:
    language: str
    source: Source
    detection: Detection


@lru_cache(maxsize=1)
def detector() -> LanguageDetector:
    # Models ship inside the lingua wheel; nothing is downloaded.
    return LanguageDetectorBuilder.from_languages(*_LINGUA).with_preloaded_language_models().build()


# Each of these scripts is written, among our languages, by exactly one of them.
_SCRIPT_LANGUAGE = {"ARABIC": "ar", "CYRILLIC": "ru", "CJK": "zh"}
_LATIN_LANGUAGES = ("en", "fr", "es")
# Among en/fr/es, the best must be this sure (renormalised over the three) and this far
# ahead of the second; code-mixed messages ("la merchant card sirve pa el bus?") are
# less sure than monolingual ones.
# Arabic in Latin letters with digits for the sounds Latin lacks ("3ayez amded el visa",
# "da3 el passport"): a word of 2+ letters with a 2, 3, 5, 7, 8 or 9 inside or at an edge.
# No such word occurs in the English, French or Spanish data (checked on nlu_data/).
_ARABIZI = re.compile(
    r"(?<!\w)(?=\w*[a-z]{2})(?:[a-z]*[235789][a-z]+|[a-z]+[235789][a-z]*)(?!\w)", re.IGNORECASE
)
ARABIZI_CONFIDENCE = 0.8
_WORD = re.compile(r"[^\W\d_]+")
# Card and passport numbers and dates of birth reach the detector as references
# ("cardref:n:<hex>", see bot/records/references.py): their letters are no language, and as
# Latin letters they would switch a Russian chat to English on its card number.
_REFERENCE = ANY_REFERENCE
LATIN_MIN_SHARE = 0.4
LATIN_MIN_MARGIN = 0.1


@lru_cache(maxsize=4)
def _word_languages(words: tuple[Words, ...]) -> tuple[dict[str, str], dict[str, str]]:
    """Short word -> its language, and keyboard mark -> its language (locales/<lang>/words.yml).

    Short Latin-script words that belong to one of our languages only ("merci") are
    enough to start a conversation in that language, never to switch one (they are not
    long enough). A word or mark listed by two languages tells neither apart: left out.
    """

    def unique(pairs: list[tuple[str, str]]) -> dict[str, str]:
        owners: dict[str, set[str]] = {}
        for item, lang in pairs:
            owners.setdefault(item, set()).add(lang)
        return {item: langs.pop() for item, langs in owners.items() if len(langs) == 1}

    short = unique([(w.casefold(), lang.language) for lang in words for w in lang.short_words])
    marks = unique([(m, lang.language) for lang in words for m in lang.keyboard_punctuation])
    return short, marks


@lru_cache(maxsize=4)
def _with_digits(words: tuple[Words, ...]) -> frozenset[str]:
    return frozenset(w.casefold() for lang in words for w in lang.with_digits)


def _arabizi(text: str) -> bool:
    """A word of Arabic in Latin letters, not one that a language writes with digits
    ("2moro" is English: locales/<lang>/words.yml, with_digits)."""
    found = {m.group(0).casefold() for m in _ARABIZI.finditer(text)}
    return bool(found - _with_digits(load_words(get_settings().locales_dir)))


def short_words() -> dict[str, str]:
    """Short word (case-folded) -> the one language that writes it, from locales/."""
    return dict(_word_languages(load_words(get_settings().locales_dir))[0])


def _script_counts(text: str) -> tuple[dict[str, int], int]:
    """Letters per non-Latin language script, and the number of Latin letters."""
    scripts: dict[str, int] = {}
    latin = 0
    for ch in text:
        if not ch.isalpha():
            continue
        name = unicodedata.name(ch, "")
        for prefix, lang in _SCRIPT_LANGUAGE.items():
            if name.startswith(prefix):
                scripts[lang] = scripts.get(lang, 0) + 1
                break
        else:
            latin += 1
    return scripts, latin


def detect(text: str) -> Detection:
    """The language of one message, from its script first, then from lingua.

    Arabic, Cyrillic and Han letters each belong to one of our languages, so any of them
    decides, even among English words ("card التاجر uses", "merchant card怎么拿到手").
    Latin-only text is told apart by lingua among English, French and Spanish.
    """
    text = _REFERENCE.sub(" ", text)
    scripts, latin = _script_counts(text)
    han = scripts.get("zh", 0)
    long_enough = (latin + sum(n for k, n in scripts.items() if k != "zh")) >= MIN_LETTERS or (
        han >= MIN_HAN
    )
    if scripts:
        lang = max(scripts, key=lambda k: scripts[k])
        return Detection(lang, 1.0, long_enough, by_script=True)
    if latin == 0:
        return Detection(None, 0.0, False)
    if _arabizi(text):
        return Detection("ar", ARABIZI_CONFIDENCE, long_enough)
    if not long_enough:
        short, marks = _word_languages(load_words(get_settings().locales_dir))
        # A short Latin message typed on a Chinese or Arabic keyboard ("english？",
        # "ok؟") keeps its keyboard's punctuation: a hint for a first message only. The
        # first such mark decides (one keyboard typed it).
        keyboard = next((marks[ch] for ch in text if ch in marks), None)
        if keyboard:
            return Detection(keyboard, FIRST_MESSAGE_CONFIDENCE, False)
        found = {short.get(w) for w in _WORD.findall(text.casefold())}
        if len(found) == 1 and None not in found:
            return Detection(found.pop(), 1.0, False)
    lingua = {
        _LINGUA[v.language]: float(v.value)
        for v in detector().compute_language_confidence_values(text)
        if _LINGUA[v.language] in _LATIN_LANGUAGES
    }
    total = sum(lingua.values())
    if not total:
        return Detection(None, 0.0, long_enough)
    ours = latin_langid.model().probabilities(text)
    # Equal weights: measured best on the held-out split (docs/nlu.md).
    values = {k: 0.5 * lingua.get(k, 0.0) / total + 0.5 * ours.get(k, 0.0) for k in lingua}
    ranked = sorted(((v, k) for k, v in values.items()), reverse=True)
    share, best = ranked[0]
    margin = share - (ranked[1][0] if len(ranked) > 1 else 0.0)
    if share < LATIN_MIN_SHARE or margin < LATIN_MIN_MARGIN:
        return Detection(None, share, long_enough)
    return Detection(best, share, long_enough)


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
    if found.language and found.by_script:
        # Length guards against guessing between similar languages; a script that only
        # one of them writes leaves nothing to guess ("谢谢" in an English conversation).
        return Decision(found.language, "detected", found)
    if found.language and found.confidence >= MIN_CONFIDENCE and found.long_enough:
        return Decision(found.language, "detected", found)
    if conversation:
        return Decision(conversation, "conversation", found)
    if found.language and found.confidence >= FIRST_MESSAGE_CONFIDENCE:
        return Decision(found.language, "detected", found)
    client_lang = normalise_language(client)
    if client_lang:
        return Decision(client_lang, "client", found)
    if found.language:
        # Nothing else to go on: the detector's best guess beats a fixed default.
        return Decision(found.language, "detected", found)
    return Decision(DEFAULT_LANGUAGE, "default", found)


def warm_up() -> None:
    """Build the detectors now (about a second and a half on this machine), in a thread
    at the gateway's start: built by the first message instead, they would hold up every
    request of the process for that long (WeChat waits only 5 seconds for its answer)."""
    for sample in ("How do I extend my visa?", "Comment prolonger mon visa ?", "签证怎么延期"):
        decide(sample, chosen=None, conversation=None, client=None)
