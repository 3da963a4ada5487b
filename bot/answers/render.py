"""Render the answers' small markup for each channel, safely.

The markup (documented in docs/editing-answers.md): paragraphs separated by a blank
line, lines starting with "- " as bullets, **bold**, and [label](https://link). Every
other character is text: HTML in an answer or a user's message is escaped, never run.
"""

from __future__ import annotations

import html
import re

_BOLD = re.compile(r"\*\*(.+?)\*\*")
_LINK = re.compile(r"\[([^\]\n]+)\]\(([^)\s]+)\)")
_SAFE_URL = re.compile(r"^(https?://|tel:|mailto:)", re.IGNORECASE)


def _bullets(text: str) -> str:
    return "\n".join(
        "• " + line[2:] if line.startswith("- ") else line for line in text.split("\n")
    )


def to_html(text: str) -> str:
    """Telegram's HTML parse mode subset (<b>, <a>); also used by the web chat."""
    out = html.escape(_bullets(text), quote=True)
    out = _BOLD.sub(r"<b>\1</b>", out)

    def link(m: re.Match[str]) -> str:
        label, url = m.group(1), html.unescape(m.group(2))
        if not _SAFE_URL.match(url):
            return m.group(0)
        return f'<a href="{html.escape(url, quote=True)}">{label}</a>'

    return _LINK.sub(link, out)


def to_plain(text: str) -> str:
    """WeChat and the terminal: no markup at all; links as "label (url)"."""
    out = _BOLD.sub(r"\1", _bullets(text))
    return _LINK.sub(lambda m: f"{m.group(1)} ({m.group(2)})", out)
