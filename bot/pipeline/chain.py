"""The inbound path: one ordered chain of small handlers, written here once.

Before the chain a message is stored and de-duplicated, and the chat's lease is taken
(bot.pipeline.inbox). Then each handler in turn may answer it; the first that does ends
the chain. The order is the behaviour, so each rule has a test (tests/unit/test_chain.py):

1. button payloads the gateway answers: a language choice, a vote, the officer's view,
   the rating of a person's help;
2. the language of the reply is decided (no answer: it only sets the turn's language);
3. account commands (/unlink, /forget, "forget me", /reminders), typed or pressed only;
4. a person, please ("/human", while the bot has the chat); back to the bot ("/bot",
   while a person has it);
5. the conversation's mode: while a person has the chat, the message goes to staff;
   before the media rule, so that a photo reaches the person;
6. unsupported media (photos, stickers, ...) get a clear answer;
7. empty messages and messages of only symbols;
8. a number alone ("123"), unless a question asked for one;
9. Rasa (which may ask for a person too: the request_human intent).
"""

from __future__ import annotations

from sqlalchemy.orm import Session, sessionmaker

from bot.answers.store import AnswerStore
from bot.pipeline.handlers.account import AccountCommands
from bot.pipeline.handlers.bare_number import BareNumber
from bot.pipeline.handlers.empty import EmptyMessage
from bot.pipeline.handlers.handoff import EndHandoff, HandoffRequest
from bot.pipeline.handlers.language import DecideLanguage
from bot.pipeline.handlers.language_choice import LanguageChoice
from bot.pipeline.handlers.media import UnsupportedMedia
from bot.pipeline.handlers.mode import ModeRouting
from bot.pipeline.handlers.officer import OfficerView
from bot.pipeline.handlers.rasa import AskRasa
from bot.pipeline.handlers.rating import Rating
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
) -> tuple[tuple[Handler, ...], AskRasa]:
    """The handlers in order, and the last one, which always answers."""
    return (
        (
            LanguageChoice(),
            Votes(sessions),
            OfficerView(answers),
            Rating(sessions),
            DecideLanguage(),
            AccountCommands(sessions),
            HandoffRequest(),
            EndHandoff(),
            ModeRouting(),
            UnsupportedMedia(),
            EmptyMessage(),
            BareNumber(),
        ),
        AskRasa(rasa, intents=intents, max_chars=max_chars),
    )
