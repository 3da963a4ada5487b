"""What the user is told when the chat goes to a person and when it comes back."""

from __future__ import annotations

import datetime as dt
import logging

from babel.dates import format_datetime
from sqlalchemy.orm import Session

from bot import protocol, texts
from bot.answers.office import office_value
from bot.answers.ui import say
from bot.db.models import Handoff, utcnow
from bot.handoff import handoffs, hours
from bot.i18n import gettext
from bot.messages import Button, Outbound
from bot.settings import SERVICE_TZ

log = logging.getLogger(__name__)


def back_to_bot(lang: str) -> tuple[Button, ...]:
    return (Button(gettext(lang, texts.BACK_TO_THE_ASSISTANT), protocol.BOT_PAYLOAD),)


def staff_hours() -> list[hours.Span] | None:
    """The staff's hours from office.yml; None when unknown or unreadable (logged)."""
    value = office_value("staff_hours")
    if not value:
        return None
    try:
        return hours.parse(value)
    except hours.HoursError as exc:
        log.error("office.yml staff_hours cannot be read, so no hours are promised: %s", exc)
        return None


def queued(
    session: Session,
    *,
    handoff: Handoff,
    lang: str,
    minutes_per_chat: float,
    now: dt.datetime | None = None,
) -> Outbound:
    """A person will answer: the place in the queue and the wait, or, outside the
    staff's hours, when they will answer."""
    local = (now or utcnow()).astimezone(SERVICE_TZ)
    place = handoffs.position(session, handoff=handoff)
    spans = staff_hours()
    if spans is None:
        unknown = gettext(lang, texts.NOT_PUBLISHED, hotline=office_value("immigration_hotline"))
        return say(
            lang, texts.HANDOFF_HOURS_UNKNOWN, back_to_bot(lang), hours=unknown, position=place
        )
    if not hours.is_open(spans, local):
        opens = hours.next_opening(spans, local)
        when = format_datetime(opens, "EEEE HH:mm", locale=lang) if opens else "—"
        return say(lang, texts.HANDOFF_CLOSED_NOW, back_to_bot(lang), opens=when)
    minutes = handoffs.wait_minutes(session, position=place, default_per_chat=minutes_per_chat)
    return say(lang, texts.HANDOFF_QUEUED, back_to_bot(lang), position=place, minutes=minutes)


def ended_by_user(lang: str) -> Outbound:
    return say(lang, texts.HANDOFF_ENDED_BY_USER)
