"""The gateway's HTTP client for its own Rasa input channel.

rasa_addons/channel.py: Rasa's REST protocol under /webhooks/gateway/, refusing requests
without "Authorization: Bearer <RASA_TOKEN>".
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

import httpx

from bot.errors import NoReply, RasaUnavailable
from bot.messages import Button, Outbound
from bot.protocol import (
    METADATA_CHANNEL,
    METADATA_LANGUAGE,
    METADATA_MESSAGE,
    ButtonTooLong,
    TurnReport,
    parse_bot_messages,
)

log = logging.getLogger(__name__)

CHANNEL = "/webhooks/gateway"
WEBHOOK_PATH = f"{CHANNEL}/webhook"
FORGET_PATH = f"{CHANNEL}/forget"


@dataclass
class RasaTurn:
    """Rasa's answer to one message: the replies for the user and the actions' report."""

    replies: list[Outbound]
    report: TurnReport


def parse_webhook_response(body: Any, *, language: str) -> RasaTurn:
    """The replies (in the language the actions answered in, else ``language``) and the
    turn report, from the body of Rasa's REST channel (bot.protocol)."""
    if not isinstance(body, list):
        raise RasaUnavailable(f"unexpected REST channel body: {type(body).__name__}")
    parsed = parse_bot_messages(body)
    lang = parsed.report.language or language
    replies = [
        Outbound(text=r.text, language=lang, buttons=_buttons(r.buttons)) for r in parsed.replies
    ]
    return RasaTurn(replies=replies, report=parsed.report)


def _buttons(pairs: tuple[tuple[str, str], ...]) -> tuple[Button, ...]:
    """Rasa's buttons; one whose payload no channel can carry (a response written in
    domain.yml rather than built by an action) is left out, loudly."""
    kept = []
    for title, payload in pairs:
        try:
            kept.append(Button(title=title, payload=payload))
        except ButtonTooLong:
            log.error("button left out: payload of %d bytes", len(payload.encode()))
    return tuple(kept)


class RasaClient:
    def __init__(
        self,
        base_url: str,
        *,
        token: str = "",
        timeout_s: float = 30.0,
        transport: httpx.AsyncBaseTransport | None = None,
        max_in_flight: int = 0,
    ) -> None:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        # At most this many turns at Rasa at once (0: no limit); the others queue here,
        # where the wait does not count against Rasa's timeout.
        self._in_flight = asyncio.Semaphore(max_in_flight) if max_in_flight > 0 else None
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

    async def send(
        self,
        *,
        sender: str,
        text: str,
        language: str,
        channel: str,
        message_id: int | None = None,
    ) -> RasaTurn:
        if self._in_flight is None:
            return await self._send(sender, text, language, channel, message_id)
        async with self._in_flight:
            return await self._send(sender, text, language, channel, message_id)

    async def _send(
        self, sender: str, text: str, language: str, channel: str, message_id: int | None
    ) -> RasaTurn:
        metadata: dict[str, str | int] = {METADATA_LANGUAGE: language, METADATA_CHANNEL: channel}
        if message_id is not None:
            metadata[METADATA_MESSAGE] = message_id
        payload = {"sender": sender, "message": text, "metadata": metadata}
        try:
            try:
                resp = await self._client.post(WEBHOOK_PATH, json=payload)
            except httpx.RemoteProtocolError:
                # The connection closed without an answer: a kept-alive connection the
                # other end (a proxy whose server died) dropped. Sent once more on a new
                # one: the channel answers a message id it has seen with its recorded
                # replies (rasa_addons/channel.py), so the turn is never doubled.
                log.info("Rasa's connection closed without an answer; sending again")
                resp = await self._client.post(WEBHOOK_PATH, json=payload)
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
        turn = parse_webhook_response(body, language=language)
        if not turn.replies and turn.report.handoff is None:
            # Every action of ours utters something; silence means an action failed
            # (typically: the action server is down) and Rasa logged it.
            raise NoReply("Rasa produced no reply (action server down or failing?)")
        return turn

    async def forget(self, *, sender: str) -> int:
        """Make Rasa delete its conversation with ``sender`` (after "forget me"); how many
        of its events it deleted (0: it held none). Raises RasaUnavailable when no Rasa
        server did it."""
        try:
            resp = await self._client.post(FORGET_PATH, json={"sender": sender})
        except httpx.HTTPError as exc:
            raise RasaUnavailable(f"Rasa server unreachable: {exc.__class__.__name__}") from exc
        if resp.status_code != 200:
            raise RasaUnavailable(f"Rasa server answered HTTP {resp.status_code} to forget")
        try:
            deleted = resp.json()["deleted"]
        except (ValueError, KeyError, TypeError) as exc:
            raise RasaUnavailable("Rasa server's answer to forget is not understood") from exc
        return int(deleted)

    async def aclose(self) -> None:
        await self._client.aclose()
