"""Jinja2 for the console: autoescaped (whatever a user wrote is shown as text), with
the "staff" gettext domain in the staff member's language (zh or en)."""

from __future__ import annotations

import datetime as dt
import gettext as _gettext
from functools import lru_cache
from pathlib import Path

from babel.dates import format_timedelta
from babel.support import Translations
from jinja2 import Environment, FileSystemLoader, pass_context, select_autoescape
from jinja2.runtime import Context

from bot.settings import SERVICE_TZ, get_settings

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"
DOMAIN = "staff"


@lru_cache(maxsize=8)
def translations(lang: str, locales: Path) -> _gettext.NullTranslations:
    return Translations.load(str(locales), [lang], domain=DOMAIN)


def staff_gettext(lang: str, msgid: str) -> str:
    return translations(lang, get_settings().locales_dir).gettext(msgid)


def local_time(moment: dt.datetime | None) -> str:
    """A moment as staff in Yiwu read it."""
    if moment is None:
        return ""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.astimezone(SERVICE_TZ).strftime("%Y-%m-%d %H:%M")


@pass_context
def duration(context: Context, seconds: float) -> str:
    """How long, in the page's language: "12 minutes", "12分钟"; minutes up to three
    hours (a wait of 130 minutes is not "2 hours" to staff), then hours, then days."""
    lang = context.get("lang") or "en"
    period = dt.timedelta(seconds=max(seconds, 60))
    return format_timedelta(period, threshold=3, locale=lang)


@lru_cache(maxsize=1)
def environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(default=True, default_for_string=True),
    )
    env.filters["local_time"] = local_time
    env.filters["duration"] = duration
    return env


def render(template: str, *, lang: str, **context: object) -> str:
    env = environment()
    tr = translations(lang, get_settings().locales_dir)
    # Per call, not installed on the environment: two staff in two languages at once.
    tmpl = env.get_template(template)
    return tmpl.render(_=tr.gettext, gettext=tr.gettext, ngettext=tr.ngettext, lang=lang, **context)
