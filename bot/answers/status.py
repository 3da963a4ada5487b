"""`expatbot answers status`: what needs an editor's attention, at a glance."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import yaml

from bot.answers.check import faq_topics
from bot.i18n import SUPPORTED_LANGUAGES


def status_table(
    locales: Path,
    *,
    max_age_days: int,
    votes: dict[tuple[str, str], tuple[int, int]] | None = None,
    fallbacks: dict[tuple[str, str], int] | None = None,
    today: dt.date | None = None,
) -> str:
    """Topics x languages: the review date, "MISSING" or "STALE <date>", and the votes
    (helpful/not helpful) when the database could be read."""
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
    lines = [f"{'topic':<{width}}  " + "  ".join(f"{lang:<22}" for lang in SUPPORTED_LANGUAGES)]
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
            if votes is not None:
                up, down = votes.get((topic, lang), (0, 0))
                cells[-1] += f" +{up}/-{down}"
            if fallbacks and fallbacks.get((topic, lang)):
                cells[-1] += f" en×{fallbacks[(topic, lang)]}"
        lines.append(f"{topic:<{width}}  " + "  ".join(f"{c:<22}" for c in cells))
    lines.append(f"{missing} missing, {stale} older than {max_age_days} days")
    if votes is None:
        lines.append("votes: database not readable, not shown")
    else:
        lines.append("+n/-m: users who found the answer helpful / not helpful")
        lines.append("en×n: users who got the English answer for lack of a translation")
    return "\n".join(lines)
