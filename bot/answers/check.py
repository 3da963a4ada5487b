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

from bot import texts
from bot.answers.facts import (
    LANGUAGES_SUFFIX,
    MAX_ANSWER_WIDTH,
    MAX_FACT_LINE_WIDTH,
    PLACEHOLDER,
    display_width,
    load_labels,
    render_answer,
    unset_notice_marks,
)
from bot.answers.languages import language_names
from bot.answers.render import to_html, to_plain
from bot.i18n import SUPPORTED_LANGUAGES, gettext
from bot.settings import PROJECT_ROOT

TELEGRAM_LIMIT = 4096
MISSING_TOPIC = "topic missing: every language needs every topic"
DEFAULT_MAX_AGE_DAYS = 365
KEYS = {"title", "text", "details", "sources", "reviewed", "follow_up"}
# A fact not yet published reads, in the length check, as a value this long.
_STAND_IN = "x" * 30
__all__ = ["PLACEHOLDER", "check_all", "check_text", "fill_placeholders", "language_names"]
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


def _fact_problems(text: str, office: dict[str, str | None], labels_file: Path) -> list[str]:
    """Each fact on a short line of its own, and named in the language's facts.yml."""
    found = []
    labels = load_labels(labels_file)
    for line in text.split("\n"):
        names = PLACEHOLDER.findall(line)
        if names and display_width(line) > MAX_FACT_LINE_WIDTH:
            found.append(
                f"line '{line[:40]}...' names a fact and is {display_width(line)} characters "
                f"long: put the fact on a short line of its own (at most "
                f"{MAX_FACT_LINE_WIDTH}), as the line is left out while the fact is unpublished"
            )
        for name in names:
            if name in office and name not in labels:
                found.append(
                    f"{{{name}}} has no name in {labels_file}: users are told by that "
                    f"name when it is not yet published"
                )
    return sorted(set(found), key=found.index)


def shown_problems(
    text: str, office: dict[str, str | None], lang: str, *, locales: Path
) -> list[str]:
    """What is wrong with ``text`` as users read it: with the office facts as they are,
    with every fact published, and with none published."""
    found = []
    states: dict[str, dict[str, str | None]] = {
        "as it reads now": office,
        "once every fact is published": {k: v or _STAND_IN for k, v in office.items()},
        "with no fact published": {
            k: (v if k == "immigration_hotline" else None) for k, v in office.items()
        },
    }
    marks = unset_notice_marks(lang)
    widths: dict[str, int] = {}
    repeated = []
    for state, facts in states.items():
        shown = to_plain(render_answer(text, facts, lang, locales=locales)).strip()
        widths[state] = display_width(shown)
        folded = shown.casefold()
        if sum(folded.count(mark) for mark in marks) > 1:
            repeated.append(state)
    worst = max(widths, key=lambda state: widths[state])
    if widths[worst] > MAX_ANSWER_WIDTH:
        found.append(
            f"{widths[worst]} characters {worst}; the limit is {MAX_ANSWER_WIDTH} (about one "
            f"and a half phone screens): put the action first and move the rest to details"
        )
    if repeated:
        found.append(f"says more than once that a fact is not yet published ({repeated[0]})")
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
        if isinstance(title, str) and PLACEHOLDER.search(title):
            err(lines.get(f"{topic}.title", line), topic, "no {placeholders} in a title")
        details = entry.get("details")
        if details is not None and (not isinstance(details, str) or not details.strip()):
            err(lines.get(f"{topic}.details", line), topic, "details: text, or leave it out")
            details = None
        for field, body in (("text", text), ("details", details)):
            if body is None:
                continue
            field_line = lines.get(f"{topic}.{field}", line)
            found = markup_problems(body) + _placeholder_problems(body, office)
            found += _fact_problems(body, office, path.parent / "facts.yml")
            found += shown_problems(body, office, lang, locales=path.parent.parent)
            for message in found:
                err(field_line, topic, message if field == "text" else f"details: {message}")
        if isinstance(title, str):
            rendered = to_html(
                title + "\n\n" + render_answer(text, office, lang, locales=path.parent.parent)
            )
            if len(rendered) > TELEGRAM_LIMIT:
                err(
                    lines.get(f"{topic}.text", line),
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
                details = entry.get("details")
                both = entry["text"] + (details if isinstance(details, str) else "")
                placeholders.setdefault(str(topic), {})[lang] = set(PLACEHOLDER.findall(both))
    for topic, by_lang in placeholders.items():
        reference = by_lang.get("en")
        for lang, names in by_lang.items():
            if reference is not None and names != reference:
                diff = ", ".join("{" + d + "}" for d in sorted(reference ^ names))
                path = locales / lang / "answers.yml"
                message = f"placeholders differ from English: {diff}"
                problems.append(Problem("error", path, None, topic, message))
    return problems
