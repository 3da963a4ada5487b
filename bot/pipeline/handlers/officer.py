"""The "show in Chinese" button: the answer in Chinese, to show an officer, under its
title in the user's language."""

from __future__ import annotations

from bot.answers.store import AnswerStore
from bot.i18n import DEFAULT_LANGUAGE
from bot.messages import Outbound
from bot.pipeline.turn import Outcome, Turn
from bot.protocol import OFFICER_PAYLOAD


class OfficerView:
    def __init__(self, answers: AnswerStore | None) -> None:
        self._answers = answers

    async def __call__(self, turn: Turn) -> Outcome | None:
        if self._answers is None or not turn.text.startswith(OFFICER_PAYLOAD):
            return None
        topic = turn.text[len(OFFICER_PAYLOAD) :].strip()
        zh = self._answers.get(topic, "zh")
        if zh is None or zh.language != "zh":
            return None
        lang = turn.chosen or turn.conversation_language or DEFAULT_LANGUAGE
        own_title = self._answers.title(topic, lang)
        view = Outbound(text=f"{own_title}\n{zh.title}\n\n{zh.text}", language="zh")
        return Outcome("answered", [view])
