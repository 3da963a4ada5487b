"""Policy answers from locales/<lang>/answers.yml, which policy editors keep current.

A changed file is used from the next request on (checked by modification time), without
retraining or restarting. A file that cannot be read or has the wrong shape is refused:
the last good version keeps serving and the error is logged.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot.answers.check import MISSING_TOPIC, check_text, faq_topics, fill_placeholders
from bot.answers.facts import render_answer
from bot.answers.office import load_office
from bot.i18n import DEFAULT_LANGUAGE
from bot.settings import get_settings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Answer:
    topic: str
    language: str
    title: str
    text: str
    follow_up: tuple[str, ...] = ()
    # The rest of the answer, behind a "More details" button ("" when it has none).
    details: str = ""


class AnswerError(ValueError):
    pass


def parse_answer_file(
    raw: bytes, *, path: Path, lang: str, office: dict[str, str | None]
) -> dict[str, dict[str, Any]]:
    """The file's entries, or AnswerError listing every error `answers check` would report.

    A topic missing from the file is not an error here: users get English for it, with a
    notice, and `answers check` reports it to editors.
    """
    data, problems = check_text(raw, path=path, lang=lang, office=office, topics=faq_topics())
    errors = [p for p in problems if p.level == "error" and p.message != MISSING_TOPIC]
    if data is None or errors:
        raise AnswerError("; ".join(str(p) for p in errors))
    return data


class AnswerStore:
    def __init__(self, locales_dir: Path | None = None, office_file: Path | None = None):
        # Both from the settings (EXPATBOT_LOCALES) unless named: one setting moves every
        # reader of locales/ at once.
        self._dir = locales_dir or get_settings().locales_dir
        self._office_file = office_file or self._dir / "office.yml"
        self._cache: dict[str, tuple[float, dict[str, dict[str, Any]]]] = {}
        self._refused: dict[str, int] = {}  # language -> mtime of the version refused

    def path(self, lang: str) -> Path:
        return self._dir / lang / "answers.yml"

    def entries(self, lang: str) -> dict[str, dict[str, Any]]:
        path = self.path(lang)
        cached = self._cache.get(lang)
        try:
            mtime = os.stat(path).st_mtime_ns
        except OSError:
            if cached is None:
                log.error("answer file %s is missing", path)
            return cached[1] if cached else {}
        if cached and cached[0] == mtime:
            return cached[1]
        if self._refused.get(lang) == mtime:
            # Checked already and refused: not again on every question (the check renders
            # each answer several ways), and logged once per version of the file.
            return cached[1] if cached else {}
        try:
            office = load_office(self._office_file)
            data = parse_answer_file(path.read_bytes(), path=path, lang=lang, office=office)
        except AnswerError as exc:
            self._refused[lang] = mtime
            log.error("answer file refused, the last good version keeps serving: %s", exc)
            return cached[1] if cached else {}
        self._cache[lang] = (mtime, data)
        return data

    def _fill(self, text: str, lang: str) -> str:
        return fill_placeholders(text, load_office(self._office_file), lang)

    def _render(self, text: str, lang: str) -> str:
        """As users read it: unpublished facts said once, at the end (bot.answers.facts)."""
        office = load_office(self._office_file)
        return render_answer(text.strip(), office, lang, locales=self._dir)

    def get(self, topic: str, lang: str) -> Answer | None:
        """The answer in ``lang``; English when that language lacks the topic."""
        for candidate in (lang, DEFAULT_LANGUAGE):
            entry = self.entries(candidate).get(topic)
            if entry:
                return Answer(
                    topic=topic,
                    language=candidate,
                    title=self._fill(entry["title"].strip(), lang),
                    text=self._render(entry["text"], lang),
                    follow_up=tuple(str(t) for t in entry.get("follow_up") or ()),
                    details=self._render(entry["details"], lang) if entry.get("details") else "",
                )
        return None

    def title(self, topic: str, lang: str) -> str:
        answer = self.get(topic, lang)
        return answer.title if answer else topic
