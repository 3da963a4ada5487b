"""The time to file a complaint with three photos through the web chat, scripted.

Starts its own Rasa server, action server and gateway on free ports (SQLite and the
evidence directory in a temp dir), then files N complaints (default 10), each from a new
web chat session, over the web chat's HTTP API exactly as the page does: the opening
sentence, the form's answers (buttons pressed, text typed), three photos uploaded one at a
time (JPEG, 1600x1200, about 0.3-0.5 MB each, with EXIF to strip), Done, Send. Prints the
median and 95th percentile of the whole filing (no user think time: only the system's), of
one form answer, and of one photo upload, and checks that each filing made one ticket with
three files. Usage: .venv/bin/python bench/file_ticket.py [N]
"""

from __future__ import annotations

import io
import random
import socket
import sqlite3
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx
from PIL import Image

from bot.db import upgrade
from bot.nlu.rasa_runtime import ensure_model
from bot.ops.supervisor import build_services, wait_healthy
from bot.settings import Settings

# (text, pressed): the form's answers, as a user gives them.
SCRIPT = [
    ("I want to file a complaint against a supplier", False),
    ("supplier", True),
    ("Golden Star Trading Co.", False),
    ("skip", True),
    ("They shipped 300 red umbrellas instead of blue ones and refuse to exchange them.", False),
    ("2026-10-20", False),
    ("2,500.50 USD", False),
    ("replacement", True),
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def photo(seed: int) -> bytes:
    """A noisy photo (noise keeps JPEG from compressing it to nothing), with EXIF."""
    rng = random.Random(seed)
    image = Image.effect_noise((1600, 1200), 40).convert("RGB")
    tint = Image.new("RGB", image.size, (rng.randrange(256), rng.randrange(256), 80))
    image = Image.blend(image, tint, 0.4)
    exif = Image.Exif()
    exif[0x010F] = "Bench camera"  # Make
    out = io.BytesIO()
    image.save(out, "JPEG", quality=85, exif=exif)
    return out.getvalue()


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p * len(ordered)) - 1)]


def line(name: str, values: list[float]) -> str:
    return (
        f"{name}: median {statistics.median(values):.0f} ms, p95 {pct(values, 0.95):.0f} ms, "
        f"max {max(values):.0f} ms (n={len(values)})"
    )


def file_one(
    client: httpx.Client, base: str, photos: list[bytes]
) -> tuple[float, list[float], list[float], str]:
    answers: list[float] = []
    uploads: list[float] = []
    start = time.perf_counter()
    client.post(f"{base}/api/webchat/session", json={}).raise_for_status()
    for text, pressed in SCRIPT:
        t0 = time.perf_counter()
        resp = client.post(
            f"{base}/api/webchat/messages",
            json={"id": uuid.uuid4().hex, "text": text, "button": pressed},
        )
        resp.raise_for_status()
        answers.append((time.perf_counter() - t0) * 1000)
    for i, data in enumerate(photos):
        t0 = time.perf_counter()
        resp = client.post(
            f"{base}/api/webchat/upload",
            content=data,
            headers={
                "Content-Type": "application/octet-stream",
                "X-Message-Id": uuid.uuid4().hex,
                "X-File-Name": f"photo-{i + 1}.jpg",
            },
        )
        resp.raise_for_status()
        uploads.append((time.perf_counter() - t0) * 1000)
    last = ""
    for text in ("done", "/affirm"):
        t0 = time.perf_counter()
        resp = client.post(
            f"{base}/api/webchat/messages",
            json={"id": uuid.uuid4().hex, "text": text, "button": True},
        )
        resp.raise_for_status()
        answers.append((time.perf_counter() - t0) * 1000)
        replies = resp.json()["replies"]
        last = replies[-1]["html"] if replies else ""
    return (time.perf_counter() - start) * 1000, answers, uploads, last


def main(n: int = 10) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="expatbot-bench-"))
    db = tmp / "bench.db"
    settings = Settings(  # type: ignore[call-arg]
        DATABASE_URL=f"sqlite:///{db}",
        EVIDENCE_DIR=str(tmp / "evidence"),
        RASA_PORT=free_port(),
        ACTION_PORT=free_port(),
        GATEWAY_PORT=free_port(),
    )
    upgrade(settings.database_url)
    model, trained = ensure_model()
    print(f"model {model.name}: " + (f"trained in {trained:.1f}s" if trained else "reused"))
    photos = [photo(i) for i in range(3)]
    print("photos: " + ", ".join(f"{len(p) / 1024:.0f} KiB" for p in photos))
    services = build_services(settings, model, run_dir=tmp / "run")
    try:
        for service in services:
            service.start()
            wait_healthy(service, timeout=240, say=lambda _s: None)
        base = f"http://127.0.0.1:{settings.gateway_port}"
        totals: list[float] = []
        answers: list[float] = []
        uploads: list[float] = []
        for _ in range(n):
            with httpx.Client(timeout=60) as client:  # a new browser: a new session
                total, a, u, last = file_one(client, base, photos)
            if "YW-" not in last:
                raise SystemExit(f"no ticket number in the last reply: {last[:200]!r}")
            totals.append(total)
            answers += a
            uploads += u
        with sqlite3.connect(db) as conn:
            tickets = conn.execute(
                "SELECT count(*) FROM ticket WHERE status='submitted'"
            ).fetchone()[0]
            files = conn.execute("SELECT count(*) FROM evidence").fetchone()[0]
        print(f"filings: {n} (web chat HTTP API, a new session each, English)")
        print(f"tickets submitted: {tickets}, evidence files: {files} (expected {n} and {3 * n})")
        print(line("whole filing (11 messages + 3 photos)", totals))
        print(line("one form answer", answers))
        print(line("one photo upload (checked, EXIF stripped, stored)", uploads))
    finally:
        for service in reversed(services):
            service.stop()


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 10)
