"""What a user does with one of their tickets, from its buttons ("/ticket <number> <verb>",
bot.protocol): see it, add a message or files to it, withdraw it, confirm that it is
resolved or reopen it. And the message that follows "add" ("ticket_add:<id>" awaited).

Only the chat's own tickets (bot.tickets.tickets.own_ticket): a number that is someone
else's gets the same answer as one that does not exist. A change the lifecycle does not
allow (pressed twice, or staff changed it meanwhile) shows the ticket as it is now.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from bot import texts
from bot.answers.ui import say
from bot.db import in_transaction
from bot.db.models import ChatIdentity, Ticket
from bot.i18n import DEFAULT_LANGUAGE, gettext
from bot.messages import Button, Outbound
from bot.pipeline.handlers.evidence import ticket_id_awaited
from bot.pipeline.turn import Outcome, Turn
from bot.protocol import TICKET_PAYLOAD, TICKET_VERBS, TurnReport
from bot.tickets import lifecycle, notify, numbers, render, tickets
from bot.tickets.choices import is_cancel

# What each verb changes the ticket to, when it changes it.
CHANGES = {
    "withdraw!": lifecycle.WITHDRAWN,
    "ok": lifecycle.CLOSED,
    "reopen": lifecycle.IN_PROGRESS,
}
TOLD = {
    lifecycle.WITHDRAWN: texts.TICKET_NOW_WITHDRAWN,
    lifecycle.CLOSED: texts.TICKET_NOW_CLOSED,
    lifecycle.IN_PROGRESS: texts.TICKET_NOW_REOPENED,
}


def _outbound(lang: str, text: str, buttons: list[dict[str, str]]) -> Outbound:
    return Outbound(
        text=text,
        language=lang,
        buttons=tuple(Button(b["title"], b["payload"]) for b in buttons),
    )


class TicketButtons:
    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    async def __call__(self, turn: Turn) -> Outcome | None:
        if turn.kind not in ("text", "button") or not turn.text.startswith(TICKET_PAYLOAD):
            return None
        parts = turn.text[len(TICKET_PAYLOAD) :].split()
        if len(parts) != 2 or parts[1] not in TICKET_VERBS:
            return None  # not one of ours: just text
        number = numbers.find(parts[0])
        if number is None:
            return None
        verb = parts[1]
        lang = turn.chosen or turn.conversation_language or DEFAULT_LANGUAGE

        def act(session: Session) -> tuple[Outbound, str | None, bool]:
            """The reply, what is awaited next ("" = nothing; None = unchanged), and
            whether the press was refused."""
            identity = session.get(ChatIdentity, turn.identity_id)
            assert identity is not None
            ticket = tickets.own_ticket(session, identity=identity, number=number)
            if ticket is None:
                return say(lang, texts.TICKET_NOT_FOUND, number=number), None, True
            if verb == "withdraw" and ticket.status in lifecycle.ACCEPTS_USER_INPUT:
                return _outbound(lang, *render.withdraw_question(lang, ticket)), None, False
            if verb == "add":
                if ticket.status not in lifecycle.ACCEPTS_USER_INPUT:
                    return self._closed(lang, ticket), "", True
                done = Button(gettext(lang, texts.DONE), f"{TICKET_PAYLOAD}{number} done")
                prompt = say(lang, texts.TICKET_ADD_PROMPT, (done,), number=number)
                return prompt, f"ticket_add:{ticket.id}", False
            if verb == "done":
                return say(lang, texts.TICKET_ADDED, number=number), "", False
            if verb in CHANGES:
                target = CHANGES[verb]
                if lifecycle.allowed(ticket.status, target, "user"):
                    # Told here, in the reply, rather than through the outbox too.
                    tickets.change_status(
                        session, ticket=ticket, to=target, actor="user", tell=False
                    )
                    return say(lang, TOLD[target], number=number), "", False
            return (
                _outbound(lang, *render.ticket_detail(session, lang, ticket)),
                None,
                verb != "show",
            )

        reply, awaiting, refused = await in_transaction(self._sessions, act)
        return Outcome(
            "rejected" if refused else "answered",
            [reply],
            language=lang,
            report=_awaiting(awaiting, turn),
        )

    @staticmethod
    def _closed(lang: str, ticket: Ticket) -> Outbound:
        status = notify.status_label(lang, ticket.status)
        return say(lang, texts.TICKET_CLOSED_FOR_INPUT, number=str(ticket.number), status=status)


def _awaiting(awaiting: str | None, turn: Turn) -> TurnReport | None:
    """A report that sets (or clears, with "") what the chat awaits; None leaves it."""
    if awaiting is None:
        return None
    return TurnReport(language=turn.language, awaiting=awaiting or None)


class TicketAddition:
    """The messages after "Add a message or files", until Done: added to the ticket as
    the user's messages (files: the evidence rule). A cancel word ends it, adding
    nothing; a command or another button does what it says."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    async def __call__(self, turn: Turn) -> Outcome | None:
        ticket_id = ticket_id_awaited(turn.awaiting)
        if ticket_id is None or turn.kind not in ("text", "button"):
            return None
        if turn.text.startswith("/") and not is_cancel(turn.text):
            return None  # a command or a button: it does what it says
        lang = turn.language
        cancel = is_cancel(turn.text)

        def add(session: Session) -> tuple[Outbound, bool]:
            """The reply, and whether the adding goes on."""
            ticket = session.get(Ticket, ticket_id)
            identity = session.get(ChatIdentity, turn.identity_id)
            if (
                ticket is None
                or identity is None
                or not tickets.owns(session, identity=identity, ticket=ticket)
            ):
                return say(lang, texts.TICKETS_UNAVAILABLE), False
            number = str(ticket.number)
            if cancel:
                return say(lang, texts.TICKET_ADD_CANCELLED, number=number), False
            result: Any = tickets.user_message(session, ticket=ticket, text=turn.text)
            if result == "final":
                return TicketButtons._closed(lang, ticket), False
            if result == "empty":
                return say(lang, texts.TICKET_STORY_EMPTY), True
            done = Button(gettext(lang, texts.DONE), f"{TICKET_PAYLOAD}{number} done")
            return say(lang, texts.TICKET_ADDED, (done,), number=number), True

        reply, going_on = await in_transaction(self._sessions, add)
        return Outcome(
            "answered",
            [reply],
            language=lang,
            settles=turn.settles,
            # Until Done, what the user sends goes to the ticket (awaiting unchanged).
            report=None if going_on else TurnReport(language=lang, awaiting=None),
        )
