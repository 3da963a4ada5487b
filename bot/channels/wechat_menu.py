"""The official account's menu: defined in locales/wechat_menu.yml, checked here against
WeChat's rules and the assistant's payloads, published with `expatbot wechat menu publish`.

A CLICK on an item reaches the gateway as an event with the item's key, which the
channel hands to the pipeline as a pressed button (bot.channels.wechat): so every key
must be something a button may carry, an intent of the domain or one of the commands.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from bot.errors import ExpatbotError
from bot.pipeline.handlers.rasa import COMMAND_INTENTS
from bot.protocol import HUMAN_PAYLOAD

MENU_FILE = "wechat_menu.yml"
# WeChat's limits (menu/create): 1-3 top-level items of at most 16 bytes, each with an
# action or 1-5 sub-items of at most 60 bytes; a key of at most 128 bytes.
TOP_ITEMS, SUB_ITEMS = 3, 5
TOP_NAME_BYTES, SUB_NAME_BYTES, KEY_BYTES, URL_BYTES = 16, 60, 128, 1024


class MenuError(ExpatbotError):
    """The menu file is not a menu WeChat would take (the message says where)."""


def _bytes(value: object) -> int:
    return len(str(value).encode("utf-8"))


def _action(item: dict[str, Any], where: str, intents: frozenset[str]) -> dict[str, Any]:
    """One item's action as WeChat takes it: a click (with its key) or a view (a url)."""
    key, url = item.get("key"), item.get("url")
    if (key is None) == (url is None):
        raise MenuError(f"{where}: give either a key or a url")
    if url is not None:
        if not str(url).startswith("https://") or _bytes(url) > URL_BYTES:
            raise MenuError(f"{where}: the url must be https:// and at most {URL_BYTES} bytes")
        return {"type": "view", "url": str(url)}
    key = str(key)
    if _bytes(key) > KEY_BYTES:
        raise MenuError(f"{where}: the key is longer than {KEY_BYTES} bytes")
    if key not in COMMAND_INTENTS and key != HUMAN_PAYLOAD and key.lstrip("/") not in intents:
        raise MenuError(f"{where}: {key!r} is neither a command nor an intent of the domain")
    if not key.startswith("/"):
        raise MenuError(f"{where}: a key starts with '/' ({key!r})")
    return {"type": "click", "key": key}


def build(data: Any, *, intents: frozenset[str]) -> dict[str, Any]:
    """The menu/create body for the file's content; MenuError says what is wrong."""
    if not isinstance(data, dict) or not isinstance(data.get("button"), list):
        raise MenuError("the menu needs a 'button' list")
    tops = data["button"]
    if not 1 <= len(tops) <= TOP_ITEMS:
        raise MenuError(f"the menu has 1 to {TOP_ITEMS} top-level items, not {len(tops)}")
    body: list[dict[str, Any]] = []
    for i, top in enumerate(tops, start=1):
        if not isinstance(top, dict) or not top.get("name"):
            raise MenuError(f"item {i}: needs a name")
        name = str(top["name"])
        if _bytes(name) > TOP_NAME_BYTES:
            raise MenuError(f"item {i} {name!r}: longer than {TOP_NAME_BYTES} bytes")
        subs = top.get("sub_button")
        if not subs:
            body.append({"name": name, **_action(top, f"item {i}", intents)})
            continue
        if not isinstance(subs, list) or len(subs) > SUB_ITEMS:
            raise MenuError(f"item {i} {name!r}: 1 to {SUB_ITEMS} sub-items")
        items = []
        for j, sub in enumerate(subs, start=1):
            where = f"item {i}.{j}"
            if not isinstance(sub, dict) or not sub.get("name"):
                raise MenuError(f"{where}: needs a name")
            sub_name = str(sub["name"])
            if _bytes(sub_name) > SUB_NAME_BYTES:
                raise MenuError(f"{where} {sub_name!r}: longer than {SUB_NAME_BYTES} bytes")
            items.append({"name": sub_name, **_action(sub, where, intents)})
        body.append({"name": name, "sub_button": items})
    return {"button": body}


def load(locales_dir: Path, *, intents: frozenset[str]) -> dict[str, Any]:
    path = locales_dir / MENU_FILE
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise MenuError(f"{path}: {exc}") from exc
    return build(data, intents=intents)
