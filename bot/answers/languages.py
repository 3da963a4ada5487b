"""Language codes as their names in the reader's language ("zh en" -> "Chinese and
English", "中文和英文"): office facts whose name ends in _languages hold codes."""

from __future__ import annotations

import re

from babel import Locale, UnknownLocaleError
from babel.lists import format_list


def language_names(codes: str, lang: str) -> str:
    names = []
    for code in codes.replace(",", " ").split():
        try:
            names.append(Locale.parse(code).get_display_name(lang) or code)
        except (ValueError, UnknownLocaleError):
            names.append(code)
    joined = format_list(names, locale=lang)
    if lang == "es" and len(names) > 1 and _SPANISH_E.match(names[-1]):
        # Spanish writes "e", not "y", before an "i" sound ("chino e inglés"), as ICU's
        # list formatter does; CLDR's patterns, which babel uses, cannot say so.
        head, _, _ = joined.rpartition(" y ")
        joined = f"{head} e {names[-1]}"
    return joined


_SPANISH_E = re.compile(r"^(?:i|hi(?![aeiouáéíóú]))", re.IGNORECASE)
