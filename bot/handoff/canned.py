"""Canned replies for staff, one file per language: locales/<lang>/canned.yml.

    documents_received:
      title: "Documents received"      # the label staff see in the console
      text: "We have received ..."     # what the user gets, in that file's language

The same ids in every language. Staff pick a reply by its id; the user gets the text of
their own language, its {placeholders} filled from locales/office.yml (as in answers).
A reply missing in the user's language, or with a placeholder office.yml does not know,
is refused with the reason, never sent in another language or with a hole in it.
Files are re-read when they change; a file that cannot be read is refused and the last
good version serves (as for answers.yml).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import yaml

from bot.answers.check import PLACEHOLDER, fill_placeholders
from bot.answers.office import load_office
from bot.settings import get_settings

log = logging.getLogger(__name__)
FILE_NAME = "canned.yml"


class CannedError(ValueError):
    pass


@dataclass(frozen=True)
class Canned:
    id: str
    title: str
    text: str


def parse(raw: str) -> dict[str, Canned]:
    data = yaml.safe_load(raw)
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise CannedError("the file must be a mapping of reply id: {title, text}")
    replies = {}
    for key, entry in data.items():
        if not isinstance(entry, dict) or not all(
            isinstance(entry.get(f), str) and entry.get(f, "").strip() for f in ("title", "text")
        ):
            raise CannedError(f"{key}: needs a title and a text, both quoted strings")
        replies[str(key)] = Canned(str(key), entry["title"].strip(), entry["text"].strip())
    return replies


_cache: dict[Path, tuple[int, dict[str, Canned]]] = {}


def replies(lang: str, locales: Path | None = None) -> dict[str, Canned]:
    """The canned replies of one language (none when it has no file)."""
    path = (locales or get_settings().locales_dir) / lang / FILE_NAME
    cached = _cache.get(path)
    try:
        stamp = os.stat(path).st_mtime_ns
    except OSError:
        return cached[1] if cached else {}
    if cached and cached[0] == stamp:
        return cached[1]
    try:
        found = parse(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, CannedError, UnicodeDecodeError) as exc:
        log.error("canned replies %s refused, the last good version serves: %s", path, exc)
        return cached[1] if cached else {}
    _cache[path] = (stamp, found)
    return found


Problem = Literal["missing", "unknown_placeholder"]


@dataclass(frozen=True)
class Rendered:
    """A canned reply ready to send, or why it cannot be."""

    text: str | None
    problem: Problem | None = None
    detail: str = ""


def render(reply_id: str, lang: str, locales: Path | None = None) -> Rendered:
    """The reply in ``lang`` with the office's facts filled in, or the reason it cannot
    be sent: missing in that language, or a placeholder no office fact fills."""
    found = replies(lang, locales).get(reply_id)
    if found is None:
        return Rendered(None, "missing", f"{reply_id} has no text in {lang}")
    office = load_office((locales / "office.yml") if locales else None)
    unknown = sorted({n for n in PLACEHOLDER.findall(found.text) if n not in office})
    if unknown:
        names = ", ".join("{" + n + "}" for n in unknown)
        return Rendered(None, "unknown_placeholder", f"{reply_id} ({lang}): {names}")
    return Rendered(fill_placeholders(found.text, office, lang))


def titles(staff_lang: str, locales: Path | None = None) -> dict[str, str]:
    """Reply id -> the label staff see: in their language, else English, else the id."""
    mine, english = replies(staff_lang, locales), replies("en", locales)
    ids = sorted(set(mine) | set(english))
    return {i: (mine.get(i) or english.get(i) or Canned(i, i, "")).title for i in ids}
