"""Service targets per kind of dispute (bot/tickets/targets.yml, or TICKET_TARGETS)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import yaml

from bot.settings import get_settings

KINDS = ("supplier", "landlord", "shop", "logistics", "other")
DEFAULT_FILE = Path(__file__).with_name("targets.yml")


@dataclass(frozen=True)
class Target:
    first_response: dt.timedelta
    resolution: dt.timedelta


FALLBACK = Target(dt.timedelta(hours=48), dt.timedelta(days=20))


@lru_cache(maxsize=4)
def _load(path: Path) -> dict[str, Target]:
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a mapping of kind: targets")
    found = {}
    for kind, values in data.items():
        if kind not in KINDS or not isinstance(values, dict):
            raise ValueError(f"{path}: {kind!r} is not one of {', '.join(KINDS)}")
        found[kind] = Target(
            dt.timedelta(hours=float(values["first_response_hours"])),
            dt.timedelta(days=float(values["resolution_days"])),
        )
    return found


def target_for(kind: str | None) -> Target:
    path = get_settings().ticket_targets_file or DEFAULT_FILE
    return _load(Path(path)).get(kind or "other", FALLBACK)
