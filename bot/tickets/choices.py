"""The ticket form's free-text answers: which kind of dispute, what the user wants, skip,
done, and "yesterday" (the words: locales/<lang>/words.yml, rasa_addons.words).

Every language's words count together, whatever language the user writes in. A word is
found as rasa_addons.words.find finds it: case and width ignored (NFKC), whole words in
Latin, Cyrillic and Arabic letters, anywhere in Chinese, the longest first, and a code's
own name ("landlord", the payload of a button) counts as one of its words.

An answer that names two codes ("the supplier's shop") is ambiguous: None, and the form
asks again with buttons. Two codes are not a conflict: "other" gives way to any other
kind ("the other supplier"), and "refund" to deposit_back ("refund my deposit").
"""

from __future__ import annotations

import datetime as dt
import os
import unicodedata
from functools import lru_cache

from bot.settings import get_settings
from rasa_addons.words import Words, find, fold, load_words

Locales = str | os.PathLike[str] | None

# When both are named, the first gives way to the second (None: to any other code).
_GIVES_WAY: dict[str, dict[str, str | None]] = {
    "dispute_kinds": {"other": None},
    "wants": {"refund": "deposit_back"},
}
DAYS_BACK = {"today": 0, "yesterday": 1, "day_before_yesterday": 2}


def _words(locales: Locales) -> tuple[Words, ...]:
    return load_words(get_settings().locales_dir if locales is None else locales)


def _one_code(text: str, key: str, locales: Locales) -> str | None:
    codes = {hit.code for hit in find(fold(text), _words(locales), key)}
    for weaker, stronger in _GIVES_WAY.get(key, {}).items():
        if weaker in codes and len(codes) > 1 and (stronger is None or stronger in codes):
            codes.discard(weaker)
    return codes.pop() if len(codes) == 1 else None


def match_kind(text: str, *, locales: Locales = None) -> str | None:
    """Who the dispute is with: supplier, landlord, shop, logistics or other; None when
    the text names none, or two."""
    return _one_code(text, "dispute_kinds", locales)


def match_want(text: str, *, locales: Locales = None) -> str | None:
    """What the user asks for: refund, replacement, deposit_back or mediation; None when
    the text names none, or two."""
    return _one_code(text, "wants", locales)


def relative_day(text: str, *, today: dt.date, locales: Locales = None) -> dt.date | None:
    """The day that "today", "yesterday" or "the day before yesterday" (in any language)
    means, from ``today``; None when the text names none of them, or two."""
    code = _one_code(text, "relative_days", locales)
    return None if code is None else today - dt.timedelta(days=DAYS_BACK[code])


def _bare(text: str) -> str:
    """The whole message as compared with skip and done: folded, without the punctuation,
    symbols (emoji) and spaces around it ("Done!", "跳过。", "ok 👍")."""
    text = fold(text)
    start, end = 0, len(text)
    while start < end and _around(text[start]):
        start += 1
    while end > start and _around(text[end - 1]):
        end -= 1
    return text[start:end]


def _around(ch: str) -> bool:
    return ch.isspace() or unicodedata.category(ch)[0] in "PZ" or unicodedata.category(ch) == "So"


@lru_cache(maxsize=8)
def _whole_messages(words: tuple[Words, ...], key: str) -> frozenset[str]:
    return frozenset(_bare(w) for lang in words for w in getattr(lang, key))


def is_skip(text: str, *, locales: Locales = None) -> bool:
    """Whether the whole message skips an optional question ("skip", "不知道", "нет")."""
    bare = _bare(text)
    return bool(bare) and bare in _whole_messages(_words(locales), "skip")


def is_done(text: str, *, locales: Locales = None) -> bool:
    """Whether the whole message says all files are sent ("done", "好了", "готово")."""
    bare = _bare(text)
    return bool(bare) and bare in _whole_messages(_words(locales), "done")


def is_cancel(text: str, *, locales: Locales = None) -> bool:
    """Whether the whole message cancels what is being filled in ("cancel", "/cancel",
    "取消", "отмена": the "cancel" lists of words.yml, punctuation around ignored)."""
    bare = _bare(text)
    return bool(bare) and bare in _whole_messages(_words(locales), "cancel")
