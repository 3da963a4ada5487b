"""Platform-neutral messages, and the protocol every channel adapter implements.

Telegram, WeChat, the web chat and the terminal chat turn their own updates into an
:class:`Inbound` and render each :class:`Outbound` their own way; the core never sees a
platform object.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, Protocol

Kind = Literal["text", "button", "sticker", "photo", "voice", "video", "file", "location", "other"]


@dataclass(frozen=True)
class Button:
    title: str
    payload: str


@dataclass(frozen=True)
class Inbound:
    channel: str  # "telegram" | "wechat" | "webchat" | "terminal"
    external_id: str  # the platform's id of the user or session
    text: str = ""
    kind: Kind = "text"
    client_language: str | None = None


@dataclass(frozen=True)
class Outbound:
    text: str
    language: str
    buttons: tuple[Button, ...] = field(default_factory=tuple)


class Channel(Protocol):
    """What the core needs from a channel to deliver a reply outside a request."""

    name: str

    async def deliver(self, external_id: str, messages: list[Outbound]) -> None: ...
