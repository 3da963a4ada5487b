"""Facts that belong to the service center (locales/office.yml), shared by every language."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import yaml

from bot.settings import get_settings

log = logging.getLogger(__name__)


def office_file() -> Path:
    """locales/office.yml, under the locales of the settings (EXPATBOT_LOCALES)."""
    return get_settings().locales_dir / "office.yml"


_cache: dict[Path, tuple[float, dict[str, str | None]]] = {}


def load_office(path: Path | None = None) -> dict[str, str | None]:
    """The office facts, re-read when the file changes; the last good version on error."""
    path = path or office_file()
    try:
        mtime = os.stat(path).st_mtime
    except OSError:
        log.error("office file %s is missing", path)
        return _cache.get(path, (0.0, {}))[1]
    cached = _cache.get(path)
    if cached and cached[0] == mtime:
        return cached[1]
    try:
        data: Any = yaml.safe_load(path.read_text(encoding="utf-8"))
        if not isinstance(data, dict):
            raise ValueError("top level must be a mapping of name: value")
        facts = {str(k): (None if v is None else str(v)) for k, v in data.items()}
    except (yaml.YAMLError, ValueError, UnicodeDecodeError) as exc:
        log.error("office file %s refused, keeping the last good version: %s", path, exc)
        return cached[1] if cached else {}
    _cache[path] = (mtime, facts)
    return facts


def office_value(name: str, path: Path | None = None) -> str:
    return load_office(path).get(name) or ""
