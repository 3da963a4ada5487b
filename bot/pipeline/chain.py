"""The inbound path: one ordered chain of small handlers, written here once.

Before the chain a message is stored and de-duplicated, and the chat's lease is taken
(bot.pipeline.inbox). Then each handler in turn may answer it; the first that does ends
the chain. The order is the behaviour, so each rule has a test (tests/unit/test_chain.py):

0. a chat writing faster than a person can (bot.pipeline.flood: more than 20 messages in
   10 s) is told once to slow down, and its messages are rejected without reaching Rasa;
   on a channel without buttons (WeChat), a numbered choice ("2") becomes the button it
   stands for (it answers nothing itself);
1. button payloads the gateway answers: a language choice, a vote, the officer's view,
   an answer's details, the rating of a person's help;
2. the language of the reply is decided (no answer: it only sets the turn's language);
3. account commands (/unlink, /forget, "forget me", /reminders), typed or pressed only;
4. a person, please ("/human", while the bot has the chat); back to the bot ("/bot",
   while a person has it);
5. the conversation's mode: while a person has the chat, the message goes to staff;
   before the media rule, so that a photo reaches the person;
6. what the user writes after "add to my ticket" goes to that ticket;
7. photos and documents while the dispute form is open (or while adding to a ticket)
   are evidence;
8. unsupported media (photos, stickers, ...) get a clear answer;
9. empty messages and messages of only symbols;
10. a number alone ("123"), unless a question asked for one;
11. Rasa (which may ask for a person too: the request_human intent).

Button payloads of one's own tickets ("/ticket <number> <verb>") come with rule 1.
"""

from __future__ import annotations

from collections.abc import Mapping

from sqlalchemy.orm import Session, sessionmaker

from bot.answers.store import AnswerStore
from bot.messages import Fetcher
from bot.pipeline.flood import FloodGuard
from bot.pipeline.handlers.account import AccountCommands
from bot.pipeline.handlers.bare_number import BareNumber
from bot.pipeline.handlers.choices import NumberedChoice
from bot.pipeline.handlers.details import AnswerDetails
from bot.pipeline.handlers.empty import EmptyMessage
from bot.pipeline.handlers.evidence import Evidence
from bot.pipeline.handlers.flood import Flood
from bot.pipeline.handlers.handoff import EndHandoff, HandoffRequest
from bot.pipeline.handlers.language import DecideLanguage
from bot.pipeline.handlers.language_choice import LanguageChoice
from bot.pipeline.handlers.media import UnsupportedMedia
from bot.pipeline.handlers.mode import ModeRouting
from bot.pipeline.handlers.officer import OfficerView
from bot.pipeline.handlers.rasa import AskRasa
from bot.pipeline.handlers.rating import Rating
from bot.pipeline.handlers.tickets import TicketAddition, TicketButtons
from bot.pipeline.handlers.votes import Votes
from bot.pipeline.rasa_client import RasaClient
from bot.pipeline.turn import Handler


def build_chain(
    *,
    sessions: sessionmaker[Session],
    rasa: RasaClient,
    intents: frozenset[str],
    answers: AnswerStore | None,
    max_chars: int,
    fetchers: Mapping[str, Fetcher] | None = None,
    flood: FloodGuard | None = None,
) -> tuple[tuple[Handler, ...], AskRasa]:
    """The handlers in order, and the last one, which always answers. ``fetchers``: how
    each channel hands over a file's bytes (the composition root fills it as it builds
    the channels). ``flood``: None, no limit (tests that build an assistant by hand)."""
    return (
        (
            *((Flood(flood),) if flood is not None else ()),
            NumberedChoice(sessions),
            LanguageChoice(),
            Votes(sessions),
            OfficerView(answers),
            AnswerDetails(answers),
            Rating(sessions),
            TicketButtons(sessions),
            DecideLanguage(),
            AccountCommands(sessions),
            HandoffRequest(),
            EndHandoff(),
            ModeRouting(),
            TicketAddition(sessions),
            Evidence(sessions, fetchers if fetchers is not None else {}),
            UnsupportedMedia(),
            EmptyMessage(),
            BareNumber(),
        ),
        AskRasa(rasa, intents=intents, max_chars=max_chars),
    )
