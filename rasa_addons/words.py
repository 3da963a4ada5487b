"""The words matched in what users type, per language: locales/<lang>/words.yml.

These are not replies (users never see them) but what the code looks for in a message:
"forget me" (bot.pipeline.account_commands), the words that cancel the link form
(actions.linking), short words and keyboard punctuation that tell a first message's
language (bot.nlu.langid), and month names in dates (rasa_addons.entities). The
languages are the directories that hold a words.yml: adding one is a new file, no code.

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
import unicodedata
from dataclasses import dataclass
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
}


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
