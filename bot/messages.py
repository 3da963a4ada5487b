"""Platform-neutral messages, and the protocol every channel adapter implements.

Telegram, WeChat, the web chat and the terminal chat turn their own updates into an
:class:`Inbound` and render each :class:`Outbound` their own way; the pipeline never sees
a platform object. How a channel delivers what is not a direct reply: bot.delivery.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal, Protocol

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
class Attachment:
    """A photo or document as the channel names it, before anything is fetched: where to
    get it (``ref``, the channel's own: Telegram's file_id, the web chat's upload hash),
    the name and type the sender declared (never trusted: bot.tickets.evidence judges the
    content), its declared size, and the album it came in (Telegram's media_group_id)."""

    ref: str
    name: str | None = None
    mime: str | None = None
    size: int | None = None
    album: str | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> Attachment | None:
        if not isinstance(data, dict) or not isinstance(data.get("ref"), str):
            return None
        size = data.get("size")
        return cls(
            ref=data["ref"],
            name=data.get("name") if isinstance(data.get("name"), str) else None,
            mime=data.get("mime") if isinstance(data.get("mime"), str) else None,
            size=size if isinstance(size, int) else None,
            album=data.get("album") if isinstance(data.get("album"), str) else None,
        )


class AttachmentTooBig(Exception):
    """The channel says the file is larger than we take: not fetched at all."""


class Fetcher(Protocol):
    """How a channel hands over the bytes of an attachment (Telegram downloads it from the
    Bot API; the web chat takes it from where its upload was put aside). Raises
    AttachmentTooBig beyond ``max_bytes``, and OSError or the platform's error when the
    file cannot be had now."""

    async def fetch(self, attachment: Attachment, *, max_bytes: int) -> bytes: ...


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
    attachment: Attachment | None = None


@dataclass(frozen=True)
class Outbound:
    text: str
    language: str
    buttons: tuple[Button, ...] = field(default_factory=tuple)
