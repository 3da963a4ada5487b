"""What a user reads of their tickets, in their language: the form's summary, the list of
their tickets, one ticket with its recent public history. Used by the actions (the form,
ticket_status) and by the gateway (the ticket buttons), so that both say it alike.

Each function returns the text and the buttons (dicts, as Rasa's dispatcher and the
outbox take them); a description is kept whole in the database and shown shortened.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal, InvalidOperation

from babel.dates import format_date
from sqlalchemy.orm import Session

from bot import protocol, texts
from bot.db.models import Ticket
from bot.i18n import gettext
from bot.tickets import lifecycle, notify, tickets
from bot.tickets.amounts import Amount, format_amount

KIND_LABELS = {
    "supplier": texts.KIND_SUPPLIER,
    "landlord": texts.KIND_LANDLORD,
    "shop": texts.KIND_SHOP,
    "logistics": texts.KIND_LOGISTICS,
    "other": texts.KIND_OTHER,
}
WANT_LABELS = {
    "refund": texts.WANT_REFUND,
    "replacement": texts.WANT_REPLACEMENT,
    "deposit_back": texts.WANT_DEPOSIT_BACK,
    "mediation": texts.WANT_MEDIATION,
}
# A description longer than this is shown cut, with an ellipsis; it is kept whole.
SHOWN_CHARS = 300


def shortened(text: str, limit: int = SHOWN_CHARS) -> str:
    text = text.strip()
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def amount_text(lang: str, amount: str | None, currency: str | None) -> str | None:
    if not amount:
        return None
    try:
        value = Decimal(amount)
    except InvalidOperation:
        return amount
    return format_amount(Amount(value=value, currency=currency), lang)


def date_text(lang: str, day: dt.date | None) -> str | None:
    return str(format_date(day, format="medium", locale=lang)) if day else None


def summary(lang: str, ticket: Ticket, *, files: int) -> str:
    """The form's last question: everything the user said, to check before sending."""
    missing = gettext(lang, texts.NOT_GIVEN)

    def line(label: str, value: str | None) -> str:
        return "• " + gettext(
            lang, texts.LABELLED, label=gettext(lang, label), value=value or missing
        )

    rows = [
        gettext(lang, texts.TICKET_SUMMARY),
        line(texts.LABEL_AGAINST, gettext(lang, KIND_LABELS[ticket.kind]) if ticket.kind else None),
        line(texts.LABEL_PARTY, ticket.party_name),
    ]
    if ticket.kind == "shop":
        rows.append(line(texts.LABEL_PLACE, ticket.party_place))
    rows += [
        line(texts.LABEL_CONTACT, ticket.party_contact),
        line(texts.LABEL_STORY, shortened(ticket.description or "") or None),
        line(texts.LABEL_WHEN, date_text(lang, ticket.happened_on)),
        line(texts.LABEL_AMOUNT, amount_text(lang, ticket.amount, ticket.currency)),
        line(texts.LABEL_WANTS, gettext(lang, WANT_LABELS[ticket.wants]) if ticket.wants else None),
        line(texts.LABEL_FILES, str(files)),
    ]
    return "\n".join(rows)


def ticket_list(session: Session, lang: str, own: list[Ticket]) -> tuple[str, list[dict[str, str]]]:
    if not own:
        return gettext(lang, texts.MY_TICKETS_NONE), []
    lines = [gettext(lang, texts.MY_TICKETS)]
    buttons = []
    for ticket in own[:10]:
        lines.append(
            "• "
            + gettext(
                lang,
                texts.TICKET_LINE,
                number=str(ticket.number),
                status=notify.status_label(lang, ticket.status),
                date=notify.day(lang, ticket.updated_at),
            )
        )
        buttons.append(
            notify.ticket_button(
                gettext(lang, texts.SHOW_TICKET, number=str(ticket.number)),
                str(ticket.number),
                "show",
            )
        )
    return "\n".join(lines), buttons


def ticket_detail(session: Session, lang: str, ticket: Ticket) -> tuple[str, list[dict[str, str]]]:
    """One of the user's tickets: its status since when, the reason of a rejection, the
    latest replies of staff; with what the user can do with it now."""
    party = ticket.party_name or gettext(
        lang, KIND_LABELS.get(ticket.kind or "other", texts.KIND_OTHER)
    )
    lines = [
        gettext(
            lang,
            texts.TICKET_HEADLINE,
            number=str(ticket.number),
            party=party,
            status=notify.status_label(lang, ticket.status),
            date=notify.day(lang, ticket.updated_at),
        )
    ]
    if ticket.status == lifecycle.REJECTED and ticket.reason:
        lines.append(gettext(lang, texts.TICKET_REJECT_LINE, reason=ticket.reason))
    for event in tickets.public_events(session, ticket_id=ticket.id, limit=10):
        if event.kind == "reply" and event.text:
            lines.append(
                gettext(
                    lang,
                    texts.TICKET_REPLY_LINE,
                    date=notify.day(lang, event.at),
                    text=shortened(event.text, 600),
                )
            )
    buttons = notify.buttons_for(lang, ticket)
    if ticket.status in lifecycle.ACCEPTS_USER_INPUT:
        buttons.append(
            notify.ticket_button(
                gettext(lang, texts.WITHDRAW_TICKET), str(ticket.number), "withdraw"
            )
        )
    return "\n".join(lines), buttons


def withdraw_question(lang: str, ticket: Ticket) -> tuple[str, list[dict[str, str]]]:
    number = str(ticket.number)
    return gettext(lang, texts.TICKET_WITHDRAW_CONFIRM, number=number), [
        notify.ticket_button(gettext(lang, texts.YES_WITHDRAW), number, "withdraw!"),
        notify.ticket_button(gettext(lang, texts.KEEP_IT), number, "show"),
    ]


def file_a_complaint(lang: str) -> dict[str, str]:
    """The help menu's button that starts the form (the open_dispute intent)."""
    return protocol.button(gettext(lang, texts.FILE_A_COMPLAINT), "/open_dispute")
