"""Office facts in an answer as a user reads it, whether or not each fact is published.

An answer names facts of the office ({center_address}) that locales/office.yml may leave
unset (~) until the office publishes them. Saying "not yet published, ask the hotline"
in place of each one made answers read badly (the notice four times in one answer), so:

- a line that names an unset fact is left out (editors put each fact on a line of its
  own, usually a bullet: docs/editing-answers.md);
- a paragraph that loses every line that named a fact is left out whole, so that an
  introduction ("Or visit the service center:") goes with its bullets;
- one sentence at the end names what is not yet published, in the reader's words
  (locales/<lang>/facts.yml), and where to ask.

The labels are data: a new language or a new fact is an edit of locales/, not of code.
"""

from __future__ import annotations

import logging
import os
import re
import unicodedata
from pathlib import Path
from typing import Any

import yaml
from babel.lists import format_list

from bot import texts
from bot.answers.languages import language_names
from bot.i18n import DEFAULT_LANGUAGE, gettext

log = logging.getLogger(__name__)

PLACEHOLDER = re.compile(r"\{([^{}\n]*)\}")
# An office fact whose name ends so lists languages by their codes ("zh en").
LANGUAGES_SUFFIX = "_languages"
# About one and a half phone screens (a phone shows some 35 characters on 15 lines):
# longer answers were read as a wall of text. Chinese and other wide characters count
# twice, as they take twice the width.
MAX_ANSWER_WIDTH = 800
# A line that names a fact is left out whole while the fact is unset: anything else on a
# long line would be lost with it.
MAX_FACT_LINE_WIDTH = 100

_labels_cache: dict[Path, tuple[int, dict[str, str]]] = {}


def display_width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def load_labels(path: Path) -> dict[str, str]:
    """The names of the office facts in one language (locales/<lang>/facts.yml), re-read
    when the file changes; an unreadable file gives the last good version (or none)."""
    try:
        mtime = os.stat(path).st_mtime_ns
    except OSError:
        return _labels_cache.get(path, (0, {}))[1]
    cached = _labels_cache.get(path)
    if cached and cached[0] == mtime:
        return cached[1]
    try:
        data: Any = yaml.safe_load(path.read_text(encoding="utf-8"))
        if not isinstance(data, dict):
            raise ValueError("top level must map fact names to labels")
        labels = {str(k): str(v) for k, v in data.items() if isinstance(v, str) and v.strip()}
    except (yaml.YAMLError, ValueError, UnicodeDecodeError) as exc:
        log.error("fact labels %s refused, keeping the last good version: %s", path, exc)
        return cached[1] if cached else {}
    _labels_cache[path] = (mtime, labels)
    return labels


def fact_label(name: str, locales: Path, lang: str) -> str:
    """How ``lang`` names a fact; English, then the fact's own name, when it has none."""
    for candidate in (lang, DEFAULT_LANGUAGE):
        label = load_labels(locales / candidate / "facts.yml").get(name)
        if label:
            return label
    return name.replace("_", " ")


def fact_labels(names: list[str], locales: Path, lang: str) -> list[str]:
    """The names of ``names`` for one list. A label for several facts together
    ("center_address+center_hours": "the service center's address and opening hours")
    stands for all of them where all are in the list, so a list does not repeat itself."""
    labels = {
        **load_labels(locales / DEFAULT_LANGUAGE / "facts.yml"),
        **load_labels(locales / lang / "facts.yml"),
    }
    groups = sorted((key.split("+") for key in labels if "+" in key), key=lambda group: -len(group))
    out: list[str] = []
    done: set[str] = set()
    for name in names:
        if name in done:
            continue
        group = next((g for g in groups if name in g and set(g) <= set(names) - done), None)
        if group:
            out.append(labels["+".join(group)])
            done.update(group)
        else:
            out.append(fact_label(name, locales, lang))
            done.add(name)
    return out


def unset_notice_marks(lang: str) -> tuple[str, ...]:
    """Fixed words of each "not yet published" notice in ``lang``: an answer whose text
    a user reads holds at most one of them (bot.answers.check)."""
    marks: list[str] = []
    for msgid in (
        texts.FACTS_NOT_PUBLISHED,
        texts.FACTS_NOT_PUBLISHED_NO_HOTLINE,
        texts.NOT_PUBLISHED,
    ):
        head = gettext(lang, msgid, facts="\0", hotline="\0").split("\0")[0].strip()
        if head and head.casefold() not in marks:
            marks.append(head.casefold())
    return tuple(marks)


def leave_out_unset(text: str, office: dict[str, str | None]) -> tuple[str, list[str]]:
    """``text`` without the lines that name an unset fact, and those facts in order."""
    unset: list[str] = []
    paragraphs = []
    for paragraph in text.split("\n\n"):
        kept, fact_lines, left_out = [], 0, 0
        for line in paragraph.split("\n"):
            names = [n for n in PLACEHOLDER.findall(line) if n in office]
            fact_lines += bool(names)
            missing = [n for n in names if not office[n]]
            if missing:
                left_out += 1
                unset += [n for n in missing if n not in unset]
            else:
                kept.append(line)
        if fact_lines and left_out == fact_lines:
            continue
        if any(line.strip() for line in kept):
            paragraphs.append("\n".join(kept))
    return "\n\n".join(paragraphs), unset


def fill_facts(text: str, office: dict[str, str | None], lang: str) -> str:
    """Each placeholder of a published fact replaced by its value; a fact whose name
    ends in _languages named in ``lang``. Unset facts and unknown names stay as typed."""

    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        found = office.get(name)
        if not found:
            return match.group(0)
        return language_names(found, lang) if name.endswith(LANGUAGES_SUFFIX) else found

    return PLACEHOLDER.sub(value, text)


def render_answer(text: str, office: dict[str, str | None], lang: str, *, locales: Path) -> str:
    """What a user reads: published facts filled in, the lines of unset ones left out,
    and one sentence at the end naming those, if any."""
    kept, unset = leave_out_unset(text, office)
    shown = fill_facts(kept, office, lang)
    if not unset:
        return shown
    names = format_list(fact_labels(unset, locales, lang), locale=lang)
    hotline = office.get("immigration_hotline")
    msgid = texts.FACTS_NOT_PUBLISHED if hotline else texts.FACTS_NOT_PUBLISHED_NO_HOTLINE
    notice = gettext(lang, msgid, facts=names, hotline=hotline or "")
    return f"{shown}\n\n{notice}" if shown else notice
