"""`expatbot chat`: the assistant in a terminal, through the same core path as Telegram.

Buttons are shown numbered; typing the number presses the button.
"""

from __future__ import annotations

import asyncio

from bot.answers.render import to_plain
from bot.app import build_assistant
from bot.messages import Button, Inbound, Kind
from bot.settings import Settings


async def run_terminal_chat(settings: Settings, *, user: str) -> int:
    assistant, rasa = build_assistant(settings)
    buttons: tuple[Button, ...] = ()
    print("Yiwu immigration assistant. Type your question; Ctrl-D to quit.")
    try:
        while True:
            try:
                line = await asyncio.to_thread(input, "you> ")
            except EOFError:
                print()
                return 0
            kind: Kind = "text"
            if line.strip().isdigit() and 1 <= int(line.strip()) <= len(buttons):
                line, kind = buttons[int(line.strip()) - 1].payload, "button"
            replies = await assistant.handle(
                Inbound(channel="terminal", external_id=user, text=line, kind=kind)
            )
            buttons = ()
            for reply in replies:
                print("bot> " + to_plain(reply.text).replace("\n", "\n     "))
                for i, b in enumerate(reply.buttons, start=len(buttons) + 1):
                    print(f"     [{i}] {b.title}")
                buttons += reply.buttons
    finally:
        await rasa.aclose()
