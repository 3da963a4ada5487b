"""A local fake of the Telegram Bot API, speaking its HTTP protocol.

python-telegram-bot runs unmodified against it (base_url points here), so tests
exercise the real client: polling with getUpdates, sendMessage, sendChatAction,
answerCallbackQuery, setMyCommands, and the webhook's setWebhook, getWebhookInfo and
deleteWebhook. Tests push updates (or build them, to post to the gateway's webhook),
read what the bot sent, and make sendMessage fail the way Telegram does: flood control
(429 with retry_after), a user who blocked the bot (403), a server error (500).
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any
from urllib.parse import parse_qsl

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

BOT_USER = {
    "id": 777000111,
    "is_bot": True,
    "first_name": "Yiwu Assistant",
    "username": "YiwuTestBot",
    "can_join_groups": False,
    "can_read_all_group_messages": False,
    "supports_inline_queries": False,
}


class FakeTelegram:
    def __init__(self, token: str) -> None:
        self.token = token
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self._updates: list[dict[str, Any]] = []
        self._next_update_id = 1
        self._next_message_id = 100
        # Answers sendMessage gives before it succeeds again: (HTTP status, description,
        # retry_after or None), consumed one per call.
        self.send_failures: list[tuple[int, str, int | None]] = []
        # Chats whose user blocked the bot: sendMessage answers 403 every time.
        self.blocked: set[int] = set()
        # (monotonic time, chat id) of every sendMessage tried, and of those that succeeded.
        self.attempts: list[tuple[float, int]] = []
        self.delivered: list[tuple[float, int]] = []
        self.webhook: dict[str, Any] = {"url": ""}
        # Files users sent: file_id -> (file_path, content), served as the Bot API does:
        # getFile gives the path, /file/bot<token>/<path> the bytes.
        self.files: dict[str, tuple[str, bytes]] = {}
        self.app = Starlette(
            routes=[
                Route("/bot{token}/{method}", self.handle, methods=["GET", "POST"]),
                Route("/file/bot{token}/{path:path}", self.download, methods=["GET"]),
            ]
        )

    # What tests use -------------------------------------------------------------
    def push_text(self, user_id: int, text: str, *, language_code: str | None = None) -> None:
        self._push({"message": self._message(user_id, text=text, language_code=language_code)})

    def push_sticker(self, user_id: int) -> None:
        msg = self._message(user_id)
        msg["sticker"] = {
            "file_id": "CAACAgIAAxk",
            "file_unique_id": "AgAD",
            "width": 512,
            "height": 512,
            "is_animated": False,
            "is_video": False,
            "type": "regular",
        }
        self._push({"message": msg})

    def push_button(self, user_id: int, data: str) -> None:
        self._push(
            {
                "callback_query": {
                    "id": f"cb{self._next_update_id}",
                    "from": self._user(user_id, None),
                    "chat_instance": "1",
                    "data": data,
                    "message": self._message(user_id, text="(buttons)", from_bot=True),
                }
            }
        )

    def update(
        self, user_id: int, text: str, *, language_code: str | None = None
    ) -> dict[str, Any]:
        """A text update with a new update_id, not queued: for posting to a webhook."""
        update: dict[str, Any] = {
            "message": self._message(user_id, text=text, language_code=language_code)
        }
        update["update_id"] = self._next_update_id
        self._next_update_id += 1
        return update

    def photo_update(self, user_id: int, caption: str) -> dict[str, Any]:
        msg = self._message(user_id)
        msg["caption"] = caption
        msg["photo"] = [
            {"file_id": "AgACAgIAAxk", "file_unique_id": "AQAD", "width": 90, "height": 90}
        ]
        update = {"message": msg, "update_id": self._next_update_id}
        self._next_update_id += 1
        return update

    def push_photo(self, user_id: int, caption: str) -> None:
        update = self.photo_update(user_id, caption)
        self._updates.append(update)

    def add_file(self, content: bytes, *, name: str = "photo.jpg") -> str:
        """A file on Telegram's servers: its file_id."""
        file_id = f"FILE{len(self.files) + 1:04d}"
        self.files[file_id] = (f"documents/{file_id}_{name}", content)
        return file_id

    def push_image(
        self,
        user_id: int,
        content: bytes,
        *,
        caption: str | None = None,
        album: str | None = None,
        declared_size: int | None = None,
    ) -> None:
        """A photo as Telegram sends it: several sizes, the largest last."""
        file_id = self.add_file(content)
        msg = self._message(user_id)
        if caption:
            msg["caption"] = caption
        if album:
            msg["media_group_id"] = album
        size = declared_size if declared_size is not None else len(content)
        msg["photo"] = [
            {"file_id": file_id + "s", "file_unique_id": "s", "width": 90, "height": 90},
            {"file_id": file_id, "file_unique_id": file_id, "width": 800, "height": 600,
             "file_size": size},
        ]  # fmt: skip
        self._push({"message": msg})

    def push_document(
        self,
        user_id: int,
        content: bytes,
        *,
        name: str,
        mime: str = "application/octet-stream",
        declared_size: int | None = None,
    ) -> None:
        file_id = self.add_file(content, name=name)
        msg = self._message(user_id)
        msg["document"] = {
            "file_id": file_id,
            "file_unique_id": file_id,
            "file_name": name,
            "mime_type": mime,
            "file_size": declared_size if declared_size is not None else len(content),
        }
        self._push({"message": msg})

    def sent(self, method: str) -> list[dict[str, Any]]:
        return [params for name, params in self.calls if name == method]

    async def wait_for(self, method: str, count: int, timeout: float = 20) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if len(self.sent(method)) >= count:
                return self.sent(method)
            await asyncio.sleep(0.05)
        raise AssertionError(f"{method} called {len(self.sent(method))} times, wanted {count}")

    # The protocol -----------------------------------------------------------------
    async def handle(self, request: Request) -> JSONResponse:
        if request.path_params["token"] != self.token:
            return JSONResponse(
                {"ok": False, "error_code": 401, "description": "Unauthorized"}, 401
            )
        method = request.path_params["method"]
        params = await self._params(request)
        self.calls.append((method, params))
        if method == "getMe":
            return self._ok(BOT_USER)
        if method == "getUpdates":
            return self._ok(await self._get_updates(params))
        if method == "sendMessage":
            return self._send_message(params)
        if method == "setWebhook":
            self.webhook = {
                "url": params.get("url", ""),
                "has_custom_certificate": False,
                "pending_update_count": 0,
                "max_connections": int(params.get("max_connections") or 40),
                "allowed_updates": params.get("allowed_updates") or [],
                "secret_token": params.get("secret_token"),
            }
            return self._ok(True)
        if method == "getWebhookInfo":
            info = {k: v for k, v in self.webhook.items() if k != "secret_token"}
            info.setdefault("has_custom_certificate", False)
            info.setdefault("pending_update_count", len(self._updates))
            return self._ok(info)
        if method == "deleteWebhook":
            self.webhook = {"url": ""}
            return self._ok(True)
        if method in {"sendChatAction", "answerCallbackQuery", "setMyCommands"}:
            return self._ok(True)
        if method == "getFile":
            found = self.files.get(str(params.get("file_id")))
            if found is None:
                return self._error(400, "Bad Request: invalid file_id")
            path, content = found
            return self._ok(
                {
                    "file_id": params["file_id"],
                    "file_unique_id": params["file_id"],
                    "file_size": len(content),
                    "file_path": path,
                }
            )
        return JSONResponse({"ok": False, "error_code": 404, "description": "Not Found"}, 404)

    async def download(self, request: Request) -> Response:
        if request.path_params["token"] != self.token:
            return Response(status_code=401)
        path = request.path_params["path"]
        for file_path, content in self.files.values():
            if file_path == path:
                self.calls.append(("download", {"path": path}))
                return Response(content, media_type="application/octet-stream")
        return Response(status_code=404)

    def _send_message(self, params: dict[str, Any]) -> JSONResponse:
        chat_id = int(params["chat_id"])
        self.attempts.append((time.monotonic(), chat_id))
        if chat_id in self.blocked:
            return self._error(403, "Forbidden: bot was blocked by the user")
        if self.send_failures:
            status, description, retry_after = self.send_failures.pop(0)
            return self._error(status, description, retry_after=retry_after)
        self.delivered.append((time.monotonic(), chat_id))
        return self._ok(self._message(chat_id, text=params.get("text", ""), from_bot=True))

    @staticmethod
    def _error(status: int, description: str, *, retry_after: int | None = None) -> JSONResponse:
        body: dict[str, Any] = {"ok": False, "error_code": status, "description": description}
        if retry_after is not None:
            body["parameters"] = {"retry_after": retry_after}
        return JSONResponse(body, status)

    async def _get_updates(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        offset = int(params.get("offset") or 0)
        self._updates = [u for u in self._updates if u["update_id"] >= offset]
        deadline = time.monotonic() + min(float(params.get("timeout") or 0), 0.5)
        while not self._updates and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        return list(self._updates)

    @staticmethod
    async def _params(request: Request) -> dict[str, Any]:
        if request.headers.get("content-type", "").startswith("application/json"):
            body = await request.body()
            return json.loads(body) if body else {}
        # python-telegram-bot posts url-encoded forms (multipart only for uploads, unused here).
        form = parse_qsl((await request.body()).decode(), keep_blank_values=True)
        params: dict[str, Any] = {}
        for key, text in form:
            try:
                params[key] = json.loads(text) if text[:1] in "[{" else text
            except ValueError:
                params[key] = text
        return params

    @staticmethod
    def _ok(result: Any) -> JSONResponse:
        return JSONResponse({"ok": True, "result": result})

    def _push(self, update: dict[str, Any]) -> None:
        update["update_id"] = self._next_update_id
        self._next_update_id += 1
        self._updates.append(update)

    @staticmethod
    def _user(user_id: int, language_code: str | None) -> dict[str, Any]:
        user: dict[str, Any] = {"id": user_id, "is_bot": False, "first_name": "Test"}
        if language_code:
            user["language_code"] = language_code
        return user

    def _message(
        self,
        user_id: int,
        *,
        text: str | None = None,
        language_code: str | None = None,
        from_bot: bool = False,
    ) -> dict[str, Any]:
        self._next_message_id += 1
        msg: dict[str, Any] = {
            "message_id": self._next_message_id,
            "date": int(time.time()),
            "chat": {"id": user_id, "type": "private", "first_name": "Test"},
            "from": BOT_USER if from_bot else self._user(user_id, language_code),
        }
        if text is not None:
            msg["text"] = text
            if text.startswith("/"):
                msg["entities"] = [
                    {"type": "bot_command", "offset": 0, "length": len(text.split()[0])}
                ]
        return msg
