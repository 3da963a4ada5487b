"""`expatbot answers status`: what needs an editor's attention, at a glance."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import yaml

from bot.answers_check import faq_topics
from bot.i18n import SUPPORTED_LANGUAGES


def status_table(locales: Path, *, max_age_days: int, today: dt.date | None = None) -> str:
    """Topics x languages: the review date, "MISSING" or "STALE <date>"."""
    today = today or dt.date.today()
    data: dict[str, dict[str, object]] = {}
    for lang in SUPPORTED_LANGUAGES:
        path = locales / lang / "answers.yml"
        try:
            loaded = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except (OSError, UnicodeDecodeError, yaml.YAMLError):
            loaded = {}
        data[lang] = loaded if isinstance(loaded, dict) else {}
    topics = faq_topics()
    width = max(len(t) for t in topics)
    lines = [f"{'topic':<{width}}  " + "  ".join(f"{lang:<16}" for lang in SUPPORTED_LANGUAGES)]
    missing = stale = 0
    for topic in topics:
        cells = []
        for lang in SUPPORTED_LANGUAGES:
            entry = data[lang].get(topic)
            reviewed = entry.get("reviewed") if isinstance(entry, dict) else None
            if not isinstance(entry, dict):
                cells.append("MISSING")
                missing += 1
            elif not isinstance(reviewed, dt.date):
                cells.append("no review date")
            elif (today - reviewed).days > max_age_days:
                cells.append(f"STALE {reviewed}")
                stale += 1
            else:
                cells.append(str(reviewed))
        lines.append(f"{topic:<{width}}  " + "  ".join(f"{c:<16}" for c in cells))
    lines.append(f"{missing} missing, {stale} older than {max_age_days} days")
    return "\n".join(lines)
