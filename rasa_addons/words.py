"""The words matched in what users type, per language: locales/<lang>/words.yml.

These are not replies (users never see them) but what the code looks for in a message:
"forget me" (bot.pipeline.account_commands), the words that cancel the link form
(actions.linking), short words and keyboard punctuation that tell a first message's
language (bot.nlu.langid), month names in dates (rasa_addons.entities), and the answers
of the dispute ticket form (bot.tickets.choices, bot.tickets.amounts): kinds of dispute,
what the user wants, currencies, number words ("5万", "15 тыс"), skip, done, and
relative days. The languages are the directories that hold a words.yml: adding one is a
new file, no code.

Some lists are mappings of a fixed code to its words (``dispute_kinds: {supplier: [...]}``):
the codes are the program's (CODES; currencies: ISO 4217 codes), the words each
language's. The ticket form matches them with ``fold`` and ``find``, below: every
language's words together, whatever language the user writes in; a word in a Latin,
Cyrillic or Arabic script only as a whole word (no letter touching it; digits may:
"1200usd"), a Chinese or Japanese one anywhere; the longest word first ("day before
yesterday" is not "yesterday"), and each code's own name counts as one of its words.

This module runs in both runtimes (the gateway and the action server on the project's
Python, the Rasa server on Python 3.10), so it needs only the standard library and
PyYAML, and never imports bot/. The project's code passes its settings' locales
directory (``get_settings().locales_dir``); inside Rasa, the default is the same
setting read from the environment: EXPATBOT_LOCALES, else <project root>/locales.

The lists are read on every message, so they are cached per directory, and each file is
re-read when its modification time or size changes: an edit counts from the next message
on, with no restart and no retraining (the trained model does not depend on them).

A malformed file (not YAML, an unknown key, a list of the wrong shape, an unquoted
``yes`` read as a boolean) is refused, and the refusal is logged once per change of the
file, naming the file and what is wrong; the last good version read by this process keeps
serving, as for answers.yml and office.yml: a typo saved into a running system does not
take away the words that worked, and never makes a message fail. With no good version to
fall back on (a broken file at start-up), that language has no lists until the file is
fixed. parse_words, which raises WordsError, is the strict check (tests/unit/test_words.py
runs it on every file).
"""

from __future__ import annotations

import logging
import os
import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

log = logging.getLogger(__name__)

LOCALES_ENV = "EXPATBOT_LOCALES"
# The same default as bot.settings (PROJECT_ROOT / "locales"), which this module may not import.
DEFAULT_LOCALES = Path(__file__).resolve().parent.parent / "locales"
FILE_NAME = "words.yml"
MONTHS_PER_YEAR = 12
# key -> what it holds, for error messages.
KEYS = {
    "forget_me": "a list of phrases",
    "cancel": "a list of words or phrases",
    "short_words": "a list of single words",
    "keyboard_punctuation": "a list of single characters",
    "months": "a list of forms, each a list of the 12 month names from January",
    "dispute_kinds": "a mapping of kind of dispute: list of words",
    "wants": "a mapping of what the user wants: list of words",
    "currencies": "a mapping of ISO 4217 code: list of words and symbols",
    "multipliers": "a mapping of multiplier: list of number words",
    "skip": "a list of whole messages",
    "done": "a list of whole messages",
    "relative_days": "a mapping of day: list of words",
    "with_digits": "a list of single words written with digits",
}
# The fixed codes of each mapping (currencies: any ISO 4217 code, CURRENCY_CODE).
CODES: dict[str, tuple[str, ...]] = {
    "dispute_kinds": ("supplier", "landlord", "shop", "logistics", "other"),
    "wants": ("refund", "replacement", "deposit_back", "mediation"),
    "multipliers": ("hundred", "thousand", "ten_thousand", "million", "hundred_million"),
    "relative_days": ("today", "yesterday", "day_before_yesterday"),
}
CURRENCIES = "currencies"
CURRENCY_CODE = re.compile(r"[A-Z]{3}")


# A mapping list: (code, its words) in the file's order.
Coded = tuple[tuple[str, tuple[str, ...]], ...]


class WordsError(ValueError):
    """What is wrong with a words.yml (its shape; YAML syntax errors are yaml.YAMLError)."""


@dataclass(frozen=True)
class Words:
    """One language's lists, as written in its file (stripped, Unicode NFC).

    Each reader lower-cases and matches in its own way; every key is optional in the file.
    """

    language: str
    forget_me: tuple[str, ...] = ()
    cancel: tuple[str, ...] = ()
    short_words: tuple[str, ...] = ()
    keyboard_punctuation: tuple[str, ...] = ()
    # One tuple of 12 per form (e.g. Russian genitive and nominative, English abbreviations).
    months: tuple[tuple[str, ...], ...] = ()
    dispute_kinds: Coded = ()
    wants: Coded = ()
    currencies: Coded = ()
    multipliers: Coded = ()
    skip: tuple[str, ...] = ()
    done: tuple[str, ...] = ()
    relative_days: Coded = ()
    # Words this language writes with digits ("2moro", "gr8"): never Arabic in Latin
    # letters ("3ayez", "7abibi"), which bot.nlu.langid finds by its digits.
    with_digits: tuple[str, ...] = ()


def locales_dir(locales: str | os.PathLike[str] | None = None) -> Path:
    """The directory given, else EXPATBOT_LOCALES, else <project root>/locales."""
    if locales is not None:
        return Path(locales)
    return Path(os.environ.get(LOCALES_ENV) or DEFAULT_LOCALES)


# Stamp of a file: (modification time in ns, size); a same-second edit changes one of them.
_Stamp = tuple[int, int]
# Per file: the stamp of the version last read, and its last good lists.
_files: dict[Path, tuple[_Stamp, Words]] = {}
# Per directory: the stamps of all its files, and what they gave (refusals already logged).
_dirs: dict[Path, tuple[tuple[tuple[Path, _Stamp], ...], tuple[Words, ...]]] = {}
_missing_reported: set[Path] = set()


def load_words(locales: str | os.PathLike[str] | None = None) -> tuple[Words, ...]:
    """Every language's lists, by language code in order, from <locales>/<lang>/words.yml.

    Cached per directory and re-read when a file changes; never raises (see the module
    docstring for what happens to a malformed file). A directory with no words.yml gives
    no languages, and an error in the log.
    """
    root = locales_dir(locales)
    try:
        paths = sorted(root.glob(f"*/{FILE_NAME}"))
        stamps = tuple((p, _stamp(p)) for p in paths)
    except OSError as exc:  # a file removed between the listing and its stat: next time
        log.warning("word lists under %s changed while being read: %s", root, exc)
        cached = _dirs.get(root)
        return cached[1] if cached else ()
    cached = _dirs.get(root)
    if cached and cached[0] == stamps:
        return cached[1]
    if not paths and root not in _missing_reported:
        _missing_reported.add(root)
        log.error("no %s under %s (%s): no word lists", FILE_NAME, root, LOCALES_ENV)
    result = tuple(_load_file(path, stamp) for path, stamp in stamps)
    _dirs[root] = (stamps, result)
    return result


def _stamp(path: Path) -> _Stamp:
    st = path.stat()
    return st.st_mtime_ns, st.st_size


def _load_file(path: Path, stamp: _Stamp) -> Words:
    cached = _files.get(path)
    if cached and cached[0] == stamp:
        return cached[1]
    lang = path.parent.name
    try:
        words = parse_words(lang, path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError, WordsError) as exc:
        if cached is None:
            log.error("word lists %s refused, no lists for %s until fixed: %s", path, lang, exc)
            return Words(lang)
        log.error("word lists %s refused, the last good version keeps serving: %s", path, exc)
        return cached[1]
    _files[path] = (stamp, words)
    return words


def parse_words(language: str, text: str) -> Words:
    """One file's lists, checked: raises WordsError (or yaml.YAMLError) naming the problem."""
    data: Any = yaml.safe_load(text)
    if data is None:  # only comments: a language with no lists yet
        data = {}
    if not isinstance(data, dict):
        raise WordsError("the file must be a mapping of list name: list")
    unknown = sorted(str(k) for k in data if k not in KEYS)
    if unknown:
        raise WordsError(f"unknown key(s) {', '.join(unknown)}; expected {', '.join(KEYS)}")
    return Words(
        language=language,
        forget_me=_texts(data, "forget_me"),
        cancel=_texts(data, "cancel"),
        short_words=_texts(data, "short_words", single_word=True),
        keyboard_punctuation=_texts(data, "keyboard_punctuation", single_char=True),
        months=_months(data),
        dispute_kinds=_coded(data, "dispute_kinds"),
        wants=_coded(data, "wants"),
        currencies=_coded(data, CURRENCIES),
        multipliers=_coded(data, "multipliers"),
        skip=_texts(data, "skip"),
        done=_texts(data, "done"),
        relative_days=_coded(data, "relative_days"),
        with_digits=_texts(data, "with_digits", single_word=True),
    )


def _list(data: dict[Any, Any], key: str) -> list[Any]:
    value = data.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise WordsError(f"{key}: expected {KEYS[key]}, found {type(value).__name__}")
    return value


def _text(value: Any, where: str) -> str:
    # YAML reads unquoted yes/no/on/off as booleans and 1/2 as numbers: say so.
    if not isinstance(value, str):
        raise WordsError(f"{where}: {value!r} is not text; put it in double quotes")
    text = unicodedata.normalize("NFC", value.strip())
    if not text:
        raise WordsError(f"{where}: empty")
    return text


def _texts(
    data: dict[Any, Any], key: str, *, single_word: bool = False, single_char: bool = False
) -> tuple[str, ...]:
    out = []
    for i, value in enumerate(_list(data, key), 1):
        where = f"{key}, item {i}"
        text = _text(value, where)
        if single_word and len(text.split()) != 1:
            # Messages are split into words before these are looked up.
            raise WordsError(f"{where}: {text!r} is not one word; list each word on its own")
        if single_char and len(text) != 1:
            raise WordsError(f"{where}: {text!r} is not one character; list each on its own")
        out.append(text)
    return tuple(out)


def _months(data: dict[Any, Any]) -> tuple[tuple[str, ...], ...]:
    forms = _list(data, "months")
    if forms and all(isinstance(f, str) for f in forms):
        forms = [forms]  # one form written as a plain list of 12
    out = []
    for i, form in enumerate(forms, 1):
        where = f"months, form {i}"
        if not isinstance(form, list) or len(form) != MONTHS_PER_YEAR:
            raise WordsError(f"{where}: expected a list of the 12 month names from January")
        out.append(tuple(_text(name, f"{where}, month {m}") for m, name in enumerate(form, 1)))
    return tuple(out)


def _coded(data: dict[Any, Any], key: str) -> Coded:
    value = data.get(key)
    if value is None:
        return ()
    if not isinstance(value, dict):
        raise WordsError(f"{key}: expected {KEYS[key]}, found {type(value).__name__}")
    out = []
    owner: dict[str, str] = {}  # folded word -> its code, in this file
    for code, items in value.items():
        if key == CURRENCIES:
            if not isinstance(code, str) or not CURRENCY_CODE.fullmatch(code):
                raise WordsError(f"{key}: {code!r} is not an ISO 4217 code (3 capitals: USD)")
        elif code not in CODES[key]:
            raise WordsError(f"{key}: unknown code {code!r}; expected {', '.join(CODES[key])}")
        if not isinstance(items, list):
            found = "nothing" if items is None else type(items).__name__
            raise WordsError(
                f"{key}, {code}: expected a list of words ([] for none), found {found}"
            )
        texts = []
        for i, item in enumerate(items, 1):
            text = _text(item, f"{key}, {code}, item {i}")
            other = owner.setdefault(fold(text), code)
            if other != code:
                # It would always be ambiguous: the readers could never use it.
                raise WordsError(f"{key}, {code}, item {i}: {text!r} is also a word of {other}")
            texts.append(text)
        out.append((code, tuple(texts)))
    return tuple(out)


# --- finding the words in a message --------------------------------------------------------

# Invisible characters (zero-width, direction marks, soft hyphen) and apostrophe variants.
_INVISIBLE = re.compile("[\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff\u00ad]")
_APOSTROPHES = str.maketrans({"\u2019": "'", "\u2018": "'", "\u02bc": "'", "`": "'"})
_SPACES = re.compile(r"\s+")
# Scripts written without spaces between words: their words are found anywhere.
_UNSPACED = re.compile(
    "[\u2e80-\u2fdf\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff]"
)
# No letter right before / after (digits may touch: "1200usd").
_NO_LETTER_BEFORE = r"(?<![^\W\d_])"
_NO_LETTER_AFTER = r"(?![^\W\d_])"


def fold(text: str) -> str:
    """Text as the word lists are compared with it: NFKC (full-width forms, no-break
    spaces), no invisible characters, one kind of apostrophe, case-folded, single spaces."""
    text = _INVISIBLE.sub("", unicodedata.normalize("NFKC", text))
    return _SPACES.sub(" ", text.translate(_APOSTROPHES).casefold()).strip()


def is_unspaced(text: str) -> bool:
    """Whether the text holds a character of a script written without spaces (Han, kana, Hangul)."""
    return _UNSPACED.search(text) is not None


@dataclass(frozen=True)
class Hit:
    """One word of a mapping list found in a folded text: its code and where it is."""

    code: str
    start: int
    end: int


def find(text: str, words: tuple[Words, ...], key: str) -> list[Hit]:
    """The words of the mapping ``key`` (every language's) in ``text``, which must be
    folded already (``fold``); in order, none overlapping, the longest at each place."""
    codes, pattern = _matcher(words, key)
    if pattern is None:
        return []
    return [Hit(codes[m.group()], m.start(), m.end()) for m in pattern.finditer(text)]


@lru_cache(maxsize=32)
def _matcher(words: tuple[Words, ...], key: str) -> tuple[dict[str, str], re.Pattern[str] | None]:
    """Folded word -> code, over every language, and the pattern that finds them.

    A word given to two different codes (in two files) is left out: it names neither.
    """
    owners: dict[str, set[str]] = {}
    for lang in words:
        coded: Coded = getattr(lang, key)
        for code, texts in coded:
            names = (code, code.replace("_", " "), *texts)
            for text in names:
                owners.setdefault(fold(text), set()).add(code)
    ambiguous = sorted(w for w, codes in owners.items() if len(codes) > 1)
    if ambiguous:
        log.warning("%s: words left out, they belong to different codes: %s", key, ambiguous)
    codes = {w: next(iter(c)) for w, c in owners.items() if len(c) == 1 and w}
    if not codes:
        return codes, None
    # Longest first: at each place the alternation tries the longest word first.
    alternatives = "|".join(_word_pattern(w) for w in sorted(codes, key=lambda w: (-len(w), w)))
    return codes, re.compile(alternatives)


def _word_pattern(word: str) -> str:
    pattern = re.escape(word)
    if word[0].isalpha() and not is_unspaced(word[0]):
        pattern = _NO_LETTER_BEFORE + pattern
    if word[-1].isalpha() and not is_unspaced(word[-1]):
        pattern += _NO_LETTER_AFTER
    return pattern
