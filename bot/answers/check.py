"""`expatbot answers check`: everything that can be wrong with an answer file, found
before any user sees it, with the file, line and topic of each problem.

The same checks guard the live service: bot.answers.store refuses a file with errors and keeps
serving the last good version.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml
from babel import Locale, UnknownLocaleError
from babel.lists import format_list

from bot import texts
from bot.answers.render import to_html
from bot.i18n import SUPPORTED_LANGUAGES, gettext
from bot.settings import PROJECT_ROOT

TELEGRAM_LIMIT = 4096
MISSING_TOPIC = "topic missing: every language needs every topic"
DEFAULT_MAX_AGE_DAYS = 365
KEYS = {"title", "text", "sources", "reviewed", "follow_up"}
PLACEHOLDER = re.compile(r"\{([^{}\n]*)\}")
_HTML_TAG = re.compile(r"</?[A-Za-z][^>]*>")
_LINK = re.compile(r"\[([^\]\n]+)\]\(([^)\s]*)\)")
_SAFE_URL = re.compile(r"^(https?://|tel:|mailto:|\{[a-z_]+\}$)", re.IGNORECASE)


@dataclass(frozen=True)
class Problem:
    level: Literal["error", "warning"]
    path: Path
    line: int | None
    topic: str | None
    message: str

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}" if self.line else str(self.path)
        topic = f" [{self.topic}]" if self.topic else ""
        return f"{where}{topic}: {self.level}: {self.message}"


def faq_topics(root: Path = PROJECT_ROOT) -> list[str]:
    """The policy topics of the taxonomy, as the domain lists them."""
    domain = yaml.safe_load((root / "domain.yml").read_text(encoding="utf-8"))
    return [str(i) for i in domain["intents"] if str(i).startswith("faq_")]


def _key_lines(source: str) -> dict[str, int]:
    """Line (1-based) of each top-level key and of each topic's own keys."""
    lines: dict[str, int] = {}
    node = yaml.compose(source)
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            lines[str(key.value)] = key.start_mark.line + 1
            if isinstance(value, yaml.MappingNode):
                for sub, _ in value.value:
                    lines[f"{key.value}.{sub.value}"] = sub.start_mark.line + 1
    return lines


def markup_problems(text: str) -> list[str]:
    found = []
    if _HTML_TAG.search(text):
        found.append("HTML tags are not allowed; use **bold** and [label](https://...)")
    for n, paragraph in enumerate(text.split("\n\n"), 1):
        if paragraph.count("**") % 2:
            found.append(f"paragraph {n}: a ** is not closed")
    without_links = _LINK.sub("", text)
    if re.search(r"\[[^\]\n]*\]\(|\]\([^)]*$", without_links, re.MULTILINE):
        found.append("a link is not written as [label](address)")
    for label, url in _LINK.findall(text):
        if not _SAFE_URL.match(url):
            found.append(f"link '{label}': address must start with https://, tel: or mailto:")
    return found


def _placeholder_problems(text: str, office: dict[str, str | None]) -> list[str]:
    found = []
    for name in PLACEHOLDER.findall(text):
        if not re.fullmatch(r"[a-z_]+", name):
            found.append(
                f"'{{{name}}}' is not a placeholder; placeholders are like {{center_hours}}"
            )
        elif name not in office:
            known = ", ".join(sorted(office))
            found.append(f"unknown placeholder {{{name}}}; known: {known}")
    return found


def fill_placeholders(text: str, office: dict[str, str | None], lang: str) -> str:
    """Office facts into an answer; an unpublished one (empty) says so in ``lang``.
    Names the office file does not know are left as typed (the check reports them)."""
    missing = gettext(lang, texts.NOT_PUBLISHED, hotline=office.get("immigration_hotline") or "")

    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in office:
            return match.group(0)
        found = office[name]
        if found and name.endswith(LANGUAGES_SUFFIX):
            return language_names(found, lang)
        return found or missing

    return PLACEHOLDER.sub(value, text)


# An office fact whose name ends so lists languages by their codes ("zh en"): users read
# their names in their own language, as one list ("Chinese and English", "中文和英文").
LANGUAGES_SUFFIX = "_languages"


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


def check_text(
    raw: bytes,
    *,
    path: Path,
    lang: str,
    office: dict[str, str | None],
    topics: list[str],
    max_age_days: int = DEFAULT_MAX_AGE_DAYS,
    today: dt.date | None = None,
) -> tuple[dict[str, Any] | None, list[Problem]]:
    """Check one language's answer file; returns its data (None if unreadable) and problems."""
    today = today or dt.date.today()
    problems: list[Problem] = []

    def err(line: int | None, topic: str | None, message: str) -> None:
        problems.append(Problem("error", path, line, topic, message))

    try:
        source = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        err(None, None, f"not UTF-8 text (byte {exc.start}); save the file as UTF-8")
        return None, problems
    try:
        data = yaml.safe_load(source)
        lines = _key_lines(source)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark else None
        detail = getattr(exc, "problem", None) or str(exc)
        err(line, None, f"YAML syntax error: {detail}")
        return None, problems
    if not isinstance(data, dict):
        err(1, None, "the file must map topic names to entries (topic: then title, text, ...)")
        return None, problems

    for topic in topics:
        if topic not in data:
            err(None, topic, MISSING_TOPIC)
    for topic, entry in data.items():
        line = lines.get(str(topic))
        if topic not in topics:
            err(line, str(topic), f"not a topic of the taxonomy; topics are: {', '.join(topics)}")
            continue
        if not isinstance(entry, dict):
            err(line, topic, "entry must have title, text, sources and reviewed")
            continue
        for key in entry.keys() - KEYS:
            err(lines.get(f"{topic}.{key}", line), topic, f"unknown field '{key}'")
        title, text = entry.get("title"), entry.get("text")
        if not isinstance(title, str) or not title.strip():
            err(lines.get(f"{topic}.title", line), topic, "title is missing or empty")
        if not isinstance(text, str) or not text.strip():
            err(lines.get(f"{topic}.text", line), topic, "text is missing or empty")
            continue
        text_line = lines.get(f"{topic}.text", line)
        for message in markup_problems(text) + _placeholder_problems(text, office):
            err(text_line, topic, message)
        if isinstance(title, str):
            rendered = to_html(fill_placeholders(f"{title}\n\n{text}", office, lang))
            if len(rendered) > TELEGRAM_LIMIT:
                err(
                    text_line,
                    topic,
                    f"{len(rendered)} characters after rendering; the limit is {TELEGRAM_LIMIT}",
                )
        sources = entry.get("sources")
        if (
            not isinstance(sources, list)
            or not sources
            or not all(isinstance(s, str) and s.strip() for s in sources)
        ):
            err(
                lines.get(f"{topic}.sources", line),
                topic,
                "sources: a list of the rules this answer states",
            )
        reviewed = entry.get("reviewed")
        review_line = lines.get(f"{topic}.reviewed", line)
        if not isinstance(reviewed, dt.date):
            err(review_line, topic, "reviewed: the date an editor last checked it, as 2026-11-27")
        elif (today - reviewed).days > max_age_days:
            problems.append(
                Problem(
                    "warning",
                    path,
                    review_line,
                    topic,
                    f"last reviewed {reviewed}, more than {max_age_days} days ago",
                )
            )
        for follow in entry.get("follow_up") or []:
            if follow not in topics:
                err(
                    lines.get(f"{topic}.follow_up", line),
                    topic,
                    f"follow_up: unknown topic {follow}",
                )
    return data, problems


def check_all(
    locales: Path,
    *,
    office: dict[str, str | None],
    topics: list[str],
    max_age_days: int = DEFAULT_MAX_AGE_DAYS,
    today: dt.date | None = None,
) -> list[Problem]:
    problems: list[Problem] = []
    placeholders: dict[str, dict[str, set[str]]] = {}
    for lang in SUPPORTED_LANGUAGES:
        path = locales / lang / "answers.yml"
        if not path.exists():
            problems.append(Problem("error", path, None, None, "file missing"))
            continue
        data, found = check_text(
            path.read_bytes(), path=path, lang=lang, office=office, topics=topics,
            max_age_days=max_age_days, today=today,
        )  # fmt: skip
        problems += found
        for topic, entry in (data or {}).items():
            if isinstance(entry, dict) and isinstance(entry.get("text"), str):
                placeholders.setdefault(str(topic), {})[lang] = set(
                    PLACEHOLDER.findall(entry["text"])
                )
    for topic, by_lang in placeholders.items():
        reference = by_lang.get("en")
        for lang, names in by_lang.items():
            if reference is not None and names != reference:
                diff = ", ".join("{" + d + "}" for d in sorted(reference ^ names))
                path = locales / lang / "answers.yml"
                message = f"placeholders differ from English: {diff}"
                problems.append(Problem("error", path, None, topic, message))
    return problems
