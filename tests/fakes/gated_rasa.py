"""A fake Rasa (its REST webhook, as an httpx transport) that records the order in which
messages reach it and can hold a message's answer until a test releases it."""

from __future__ import annotations

import asyncio
import json

import httpx


class GatedRasa(httpx.AsyncBaseTransport):
    def __init__(self, *held: str) -> None:
        self.arrived = {text: asyncio.Event() for text in held}
        self.release = {text: asyncio.Event() for text in held}
        self.order: list[str] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        self.order.append(body["message"])
        if body["message"] in self.arrived:
            self.arrived[body["message"]].set()
            await self.release[body["message"]].wait()
        lang = body["metadata"]["language"]
        turn = {"intent": "greet", "confidence": 0.9, "language": lang}
        return httpx.Response(
            200,
            json=[
                {"recipient_id": body["sender"], "text": f"reply to {body['message']}"},
                {"recipient_id": body["sender"], "custom": {"turn": turn}},
            ],
        )
