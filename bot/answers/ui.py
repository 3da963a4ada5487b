"""A reply of the gateway's own (not Rasa's), in the user's language, from the catalogs."""

from __future__ import annotations

from typing import Any

from bot.answers.office import office_value
from bot.i18n import gettext
from bot.messages import Button, Outbound


def say(lang: str, msgid: str, buttons: tuple[Button, ...] = (), **params: Any) -> Outbound:
    """A UI text in ``lang``, its hotline filled from office.yml."""
    text = gettext(lang, msgid, hotline=office_value("immigration_hotline"), **params)
    return Outbound(text=text, language=lang, buttons=buttons)
