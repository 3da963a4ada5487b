"""What the user is told of their ticket: every status change and every public reply of
staff, in the ticket's language, in the chat that filed it, through the outbox (one row
per event: an event written twice is told once). With the buttons the user needs next:
confirm or reopen a resolved ticket, answer one that waits for them."""

from __future__ import annotations

from babel.dates import format_date
from sqlalchemy.orm import Session

from bot import protocol, texts
from bot.db import aware, conversations
from bot.db.models import ChatIdentity, Ticket, TicketEvent
from bot.delivery import outbox
from bot.i18n import gettext
from bot.settings import SERVICE_TZ, get_settings
from bot.tickets import lifecycle

STATUS_LABELS = {
    lifecycle.SUBMITTED: texts.TICKET_STATUS_SUBMITTED,
    lifecycle.TRIAGED: texts.TICKET_STATUS_TRIAGED,
    lifecycle.IN_PROGRESS: texts.TICKET_STATUS_IN_PROGRESS,
    lifecycle.WAITING_USER: texts.TICKET_STATUS_WAITING_USER,
    lifecycle.RESOLVED: texts.TICKET_STATUS_RESOLVED,
    lifecycle.CLOSED: texts.TICKET_STATUS_CLOSED,
    lifecycle.REJECTED: texts.TICKET_STATUS_REJECTED,
    lifecycle.DUPLICATE: texts.TICKET_STATUS_DUPLICATE,
    lifecycle.WITHDRAWN: texts.TICKET_STATUS_WITHDRAWN,
}


def status_label(lang: str, status: str) -> str:
    return gettext(lang, STATUS_LABELS.get(status, texts.TICKET_STATUS_SUBMITTED))


def day(lang: str, moment: object) -> str:
    """A date as the user's language writes it ("6 Dec 2026", "2026年12月6日")."""
    import datetime as dt

    if isinstance(moment, dt.datetime):
        moment = aware(moment).astimezone(SERVICE_TZ).date()
    assert isinstance(moment, dt.date)
    return format_date(moment, format="medium", locale=lang)


def ticket_button(title: str, number: str, verb: str) -> dict[str, str]:
    return protocol.button(title, f"{protocol.TICKET_PAYLOAD}{number} {verb}")


def buttons_for(lang: str, ticket: Ticket) -> list[dict[str, str]]:
    """What the user can do with the ticket now."""
    number = str(ticket.number)
    if ticket.status == lifecycle.RESOLVED:
        return [
            ticket_button(gettext(lang, texts.CONFIRM_RESOLVED), number, "ok"),
            ticket_button(gettext(lang, texts.REOPEN_TICKET), number, "reopen"),
        ]
    if ticket.status in lifecycle.ACCEPTS_USER_INPUT:
        return [ticket_button(gettext(lang, texts.ADD_TO_TICKET), number, "add")]
    return []


def _send(
    session: Session, *, ticket: Ticket, event: TicketEvent, text: str, with_buttons: bool = True
) -> int | None:
    if ticket.identity_id is None:
        return None  # the chat is gone: nobody to tell
    identity = session.get(ChatIdentity, ticket.identity_id)
    if identity is None:
        return None
    conv = conversations.current_conversation(session, identity=identity)
    return outbox.to_chat(
        session,
        key=f"ticket:{ticket.id}:{event.id}",
        identity=identity,
        kind="ticket_update",
        text=text,
        language=ticket.language,
        buttons=buttons_for(ticket.language, ticket) if with_buttons else None,
        conversation_id=conv.id,
        author="staff" if event.actor == "staff" else "system",
        staff_id=event.staff_id,
    )


def status_changed(
    session: Session, *, ticket: Ticket, event: TicketEvent, duplicate_of: Ticket | None = None
) -> int | None:
    lang, number = ticket.language, str(ticket.number)
    to = event.to_status
    if to == lifecycle.SUBMITTED:
        return None  # the form's last answer says so, in the request
    if to == lifecycle.REJECTED:
        text = gettext(lang, texts.TICKET_NOW_REJECTED, number=number, reason=ticket.reason or "")
    elif to == lifecycle.DUPLICATE:
        original = duplicate_of.number if duplicate_of else ""
        text = gettext(lang, texts.TICKET_NOW_DUPLICATE, number=number, original=original)
    elif to == lifecycle.WAITING_USER:
        text = gettext(lang, texts.TICKET_NOW_WAITING, number=number)
    elif to == lifecycle.RESOLVED:
        days = get_settings().ticket_autoclose_days
        text = gettext(lang, texts.TICKET_NOW_RESOLVED, number=number, days=days)
    elif to == lifecycle.CLOSED:
        text = gettext(lang, texts.TICKET_NOW_CLOSED, number=number)
    elif to == lifecycle.WITHDRAWN:
        text = gettext(lang, texts.TICKET_NOW_WITHDRAWN, number=number)
    elif to == lifecycle.IN_PROGRESS and event.from_status == lifecycle.RESOLVED:
        text = gettext(lang, texts.TICKET_NOW_REOPENED, number=number)
    else:
        text = gettext(lang, texts.TICKET_NOW, number=number, status=status_label(lang, str(to)))
    return _send(session, ticket=ticket, event=event, text=text)


def staff_replied(session: Session, *, ticket: Ticket, event: TicketEvent) -> int | None:
    text = gettext(
        ticket.language, texts.TICKET_STAFF_REPLY, number=str(ticket.number), text=event.text
    )
    return _send(session, ticket=ticket, event=event, text=text)
