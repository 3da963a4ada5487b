"""The erasure job: Rasa forgets the conversations of chats that asked to be forgotten.

"Forget me" deletes the gateway's transcript at once and gives the chat a new public id
(bot.records.accounts.forget); Rasa's copy of the conversation, under the old id, is in
Rasa's tracker store, which only Rasa reaches. The request is a row (bot.db.erasures),
committed with the forgetting itself, so that it survives a crash or a Rasa outage; this
job asks a Rasa server to delete each conversation (rasa_addons/forget.py) and removes
the row when one has. A failure leaves the row for the next run.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import partial

from sqlalchemy.orm import Session, sessionmaker

from bot.db import erasures, in_transaction
from bot.errors import RasaUnavailable
from bot.pipeline.rasa_client import RasaClient

log = logging.getLogger(__name__)

BATCH = 50


@dataclass(frozen=True)
class Erased:
    erased: int  # conversations Rasa confirmed it deleted (or never held)
    left: int  # still to do: Rasa failed, they are tried at the next run


async def erase_in_rasa(sessions: sessionmaker[Session], rasa: RasaClient) -> Erased:
    senders = await in_transaction(sessions, lambda s: erasures.waiting(s, limit=BATCH))
    done = 0
    for index, sender in enumerate(senders):
        try:
            await rasa.forget(sender=sender)
        except RasaUnavailable as exc:
            # Rasa is down or refuses: the rest would fail the same way. Never the id in
            # the log: it is what ties Rasa's conversation to the chat.
            log.warning("Rasa did not forget a conversation: %s; tried again later", exc)
            failed = partial(erasures.not_erased, sender=sender, error=str(exc))
            await in_transaction(sessions, failed)
            return Erased(erased=done, left=len(senders) - index)
        await in_transaction(sessions, partial(erasures.erased, sender=sender))
        done += 1
    return Erased(erased=done, left=0)
