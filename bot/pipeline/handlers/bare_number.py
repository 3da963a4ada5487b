"""Whether a message is only a number ("123", "+86 138 0013 8000", "#452", "٣٤٥").

On its own, a number is not a question: Rasa would guess an intent for it (a ticket
number, say). Unless the assistant has just asked for a number (the link form's card
number, date of birth or passport digits: ``ChatIdentity.awaiting``), the gateway asks
what the number is about instead.
"""

from __future__ import annotations

import re
import unicodedata

from bot import texts
from bot.answers.ui import say
from bot.i18n import gettext
from bot.messages import Button
from bot.pipeline.turn import Outcome, Turn
from rasa_addons.normalise import INVISIBLE

# After NFKC (full-width "１２３", "＃", "＋", "－" become ASCII): an optional "+" or "#"
# in front, then digits of any script (\d is every Unicode decimal digit: Arabic-Indic
# "٣٤٥", Persian "۱۲۳", ...) in groups split by spaces or dashes. Letters, slashes, dots
# and commas are not part of it: "12/05/1990" or "M2" may be the start of a question.
_BARE_NUMBER = re.compile(r"[+#]?\s*\d+(?:[\s\-\u2010-\u2015\u2212]*\d+)*")


def is_bare_number(text: str) -> bool:
    norm = unicodedata.normalize("NFKC", INVISIBLE.sub("", text)).strip()
    return _BARE_NUMBER.fullmatch(norm) is not None


# A card number typed as digits alone is stored as its reference (bot.records.references):
# still only a number.
_DIGITS_CARD_REF = re.compile(r"cardref:d:[0-9a-f]{64}")


class BareNumber:
    async def __call__(self, turn: Turn) -> Outcome | None:
        if turn.awaiting is not None or turn.kind not in ("text", "button"):
            return None
        if not is_bare_number(_DIGITS_CARD_REF.sub("0", turn.text)):
            return None
        menu = (Button(title=gettext(turn.language, texts.MENU), payload="/help"),)
        return Outcome(
            "answered",
            [say(turn.language, texts.ONLY_A_NUMBER, menu)],
            language=turn.language,
            settles=turn.settles,
        )
