"""Low-confidence messages: offer the two likeliest topics instead of guessing."""

from __future__ import annotations

from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.common import FAQ_PREFIX, answer_store, button, finish, ui, user_language
from bot import texts

OFFERED = 2


def likeliest_topics(tracker: Tracker, n: int = OFFERED) -> list[str]:
    ranking = tracker.latest_message.get("intent_ranking") or []
    ranked = sorted(ranking, key=lambda r: r.get("confidence") or 0.0, reverse=True)
    return [r["name"] for r in ranked if str(r.get("name", "")).startswith(FAQ_PREFIX)][:n]


class ActionClarify(Action):
    def name(self) -> str:
        return "action_clarify"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[dict[str, Any]]:
        lang = user_language(tracker)
        store = answer_store()
        buttons = [button(store.title(t, lang), f"/{t}") for t in likeliest_topics(tracker)]
        buttons.append(button(ui(lang, texts.NONE_OF_THESE), "/deny"))
        dispatcher.utter_message(text=ui(lang, texts.FALLBACK), buttons=buttons)
        return finish(dispatcher, tracker, lang)
