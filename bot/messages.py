"""Platform-neutral messages, and the protocol every channel adapter implements.

Telegram, WeChat, the web chat and the terminal chat turn their own updates into an
:class:`Inbound` and render each :class:`Outbound` their own way; the pipeline never sees
a platform object. How a channel delivers what is not a direct reply: bot.delivery.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from bot.protocol import check_payload

Kind = Literal["text", "button", "sticker", "photo", "voice", "video", "file", "location", "other"]


@dataclass(frozen=True)
class Button:
    title: str
    payload: str

    def __post_init__(self) -> None:
        # Refused where it is built, never dropped later by a channel (bot.protocol).
        check_payload(self.payload)


@dataclass(frozen=True)
class Inbound:
    channel: str  # "telegram" | "wechat" | "webchat" | "terminal"
    external_id: str  # the platform's id of the user or session
    # The channel's own id of this message (Telegram's update_id, the web chat's client
    # id, WeChat's MsgId): the same id twice is the same message (bot.pipeline.inbox).
    message_id: str
    text: str = ""
    kind: Kind = "text"
    client_language: str | None = None


@dataclass(frozen=True)
class Outbound:
    text: str
    language: str
    buttons: tuple[Button, ...] = field(default_factory=tuple)
