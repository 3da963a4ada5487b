"""The gateway's HTTP client for its own Rasa input channel.

rasa_addons/channel.py: Rasa's REST protocol under /webhooks/gateway/, refusing requests
without "Authorization: Bearer <RASA_TOKEN>".
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import httpx

from bot.errors import NoReply, RasaUnavailable
from bot.messages import Button

log = logging.getLogger(__name__)

CHANNEL = "/webhooks/gateway"
WEBHOOK_PATH = f"{CHANNEL}/webhook"


@dataclass(frozen=True)
class RasaReply:
    text: str
    buttons: tuple[Button, ...] = ()


@dataclass
class RasaTurn:
    replies: list[RasaReply] = field(default_factory=list)
    # What the actions report about the turn (see actions/common.py: report_turn).
    intent: str | None = None
    confidence: float | None = None
    language: str | None = None
    answer_language: str | None = None
    # The user's message answered an identity question: keep it out of the transcript.
    redact: bool = False
    # What the last question asked for ("card_number"), see bot.pipeline.assistant.
    awaiting: str | None = None


def parse_webhook_response(body: Any) -> RasaTurn:
    if not isinstance(body, list):
        raise RasaUnavailable(f"unexpected REST channel body: {type(body).__name__}")
    turn = RasaTurn()
    for item in body:
        if not isinstance(item, dict):
            continue
        custom = item.get("custom")
        if isinstance(custom, dict) and custom.get("redact") is True:
            turn.redact = True  # sent by actions/linking.py with an identity answer
            continue
        if isinstance(custom, dict) and isinstance(custom.get("turn"), dict):
            meta = custom["turn"]
            turn.intent = meta.get("intent")
            conf = meta.get("confidence")
            turn.confidence = float(conf) if isinstance(conf, int | float) else None
            turn.language = meta.get("language")
            turn.answer_language = meta.get("answer_language")
            awaiting = meta.get("awaiting")
            turn.awaiting = awaiting if isinstance(awaiting, str) else None
            continue
        text = item.get("text")
        if not isinstance(text, str) or not text:
            continue
        buttons = tuple(
            Button(title=str(b.get("title", "")), payload=str(b.get("payload", "")))
            for b in item.get("buttons") or []
            if isinstance(b, dict) and b.get("payload")
        )
        turn.replies.append(RasaReply(text=text, buttons=buttons))
    return turn


class RasaClient:
    def __init__(
        self,
        base_url: str,
        *,
        token: str = "",
        timeout_s: float = 30.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._client = httpx.AsyncClient(
            base_url=base_url.rstrip("/"), timeout=timeout_s, transport=transport, headers=headers
        )

    async def check(self, *, timeout_s: float = 2.0) -> str:
        """'ok' when the channel answers this client's secret; otherwise what went wrong.

        The channel's own health route: the same server, route and secret as `send`.
        """
        try:
            resp = await self._client.get(f"{CHANNEL}/", timeout=timeout_s)
        except httpx.HTTPError:
            return "unreachable"
        return "ok" if resp.status_code == 200 else f"HTTP {resp.status_code}"

    async def send(self, *, sender: str, text: str, metadata: dict[str, Any]) -> RasaTurn:
        try:
            resp = await self._client.post(
                WEBHOOK_PATH,
                json={"sender": sender, "message": text, "metadata": metadata},
            )
        except httpx.HTTPError as exc:
            raise RasaUnavailable(f"Rasa server unreachable: {exc.__class__.__name__}") from exc
        if resp.status_code == 401:
            raise RasaUnavailable("Rasa server refused the gateway's RASA_TOKEN (HTTP 401)")
        if resp.status_code >= 400:
            raise RasaUnavailable(f"Rasa server answered HTTP {resp.status_code}")
        try:
            body = resp.json()
        except ValueError as exc:
            raise RasaUnavailable("Rasa server sent invalid JSON") from exc
        turn = parse_webhook_response(body)
        if not turn.replies:
            # Every action of ours utters something; silence means an action failed
            # (typically: the action server is down) and Rasa logged it.
            raise NoReply("Rasa produced no reply (action server down or failing?)")
        return turn

    async def aclose(self) -> None:
        await self._client.aclose()
