"""`expatbot chat`: the assistant in a terminal, through the same pipeline as every channel.

Buttons are shown numbered; typing the number presses the button. Each line typed is a
message with an id of its own. What the outbox holds for this chat (a reminder, a reply
that came after the request stopped waiting) is collected while the chat runs, as the
web chat's open page does, and printed between the lines.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable

from sqlalchemy.orm import Session

from bot.answers.render import to_plain
from bot.db import conversations, in_transaction
from bot.delivery import outbox
from bot.delivery.outbox import Item
from bot.messages import Button, Inbound, Kind
from bot.pipeline.assistant import Assistant

CHANNEL = "terminal"
COLLECT_EVERY_S = 1.0


def show(text: str, buttons: tuple[Button, ...], first: int, out: Callable[[str], None]) -> None:
    out("bot> " + to_plain(text).replace("\n", "\n     "))
    for i, b in enumerate(buttons, start=first):
        out(f"     [{i}] {b.title}")


class TerminalChat:
    name = CHANNEL

    def __init__(self, assistant: Assistant, *, user: str, out: Callable[[str], None] = print):
        self.assistant = assistant
        self.user = user
        self.out = out
        self.buttons: tuple[Button, ...] = ()

    def deliver(self, item: Item) -> None:
        """An outbox row for this chat, printed; its buttons join the ones on screen."""
        buttons = tuple(Button(title=t, payload=p) for t, p in item.buttons)
        show(item.text, buttons, len(self.buttons) + 1, self.out)
        self.buttons += buttons

    async def collect(self) -> int:
        def take(session: Session) -> list[Item]:
            identity = conversations.find_identity(session, channel=CHANNEL, external_id=self.user)
            if identity is None:
                return []
            items = outbox.collect(session, identity_id=identity.id, channel=CHANNEL, after_id=None)
            outbox.mark_collected(session, row_ids=[i.id for i in items])
            return items

        items = await in_transaction(self.assistant.sessions, take)
        for item in items:
            self.deliver(item)
        return len(items)

    async def collect_forever(self) -> None:
        while True:
            await self.collect()
            await asyncio.sleep(COLLECT_EVERY_S)

    async def say(self, line: str) -> None:
        kind: Kind = "text"
        if line.strip().isdigit() and 1 <= int(line.strip()) <= len(self.buttons):
            line, kind = self.buttons[int(line.strip()) - 1].payload, "button"
        replies = await self.assistant.handle(
            Inbound(
                channel=CHANNEL,
                external_id=self.user,
                message_id=uuid.uuid4().hex,
                text=line,
                kind=kind,
            )
        )
        self.buttons = ()
        for reply in replies:
            show(reply.text, reply.buttons, len(self.buttons) + 1, self.out)
            self.buttons += reply.buttons


async def run_terminal_chat(assistant: Assistant, *, user: str) -> int:
    chat = TerminalChat(assistant, user=user)
    print("Yiwu immigration assistant. Type your question; Ctrl-D to quit.")
    collector = asyncio.create_task(chat.collect_forever())
    try:
        while True:
            try:
                line = await asyncio.to_thread(input, "you> ")
            except EOFError:
                print()
                return 0
            await chat.say(line)
    finally:
        collector.cancel()
