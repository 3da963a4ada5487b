"""Reply time of the local web chat, end to end, and the memory of each process.

Starts its own Rasa server, action server and gateway on free ports (SQLite in a temp
dir), sends 100 messages in mixed languages through the web chat's HTTP API, one after
another, and prints the median and 95th-percentile reply time and each process's
resident memory. Usage: .venv/bin/python bench/reply_latency.py [N]
"""

from __future__ import annotations

import socket
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

from bot.db import upgrade
from bot.nlu.rasa_runtime import ensure_model
from bot.ops.supervisor import build_services, wait_healthy
from bot.settings import Settings

MESSAGES = [
    "How do I extend my visa?",
    "签证快到期了怎么办",
    "كيف أسجل السكن عند الشرطة؟",
    "как получить карту иностранного торговца",
    "J'ai perdu mon passeport, que faire ?",
    "¿Dónde está el centro de servicios?",
    "hello",
    "谢谢",
    "ما هي أرقام الطوارئ؟",
    "спасибо",
    "Puis-je travailler avec un visa M ?",
    "¿cómo traigo a mi esposa a China?",
    "what happens if I overstay my visa",
    "外商卡可以坐公交吗",
    "هل أنت روبوت",
    "какие бывают визы",
    "ok",
    "/help",
    "residence permit renewal",
    "Je veux changer de langue",
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def rss_mib(pid: int) -> float:
    """Resident memory of a process and its children, in MiB (Linux /proc)."""
    total = 0
    pids = [pid]
    children = Path(f"/proc/{pid}/task/{pid}/children")
    if children.exists():
        pids += [int(p) for p in children.read_text().split()]
    for p in pids:
        for line in Path(f"/proc/{p}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                total += int(line.split()[1])
    return total / 1024


def main(n: int = 100) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="expatbot-bench-"))
    settings = Settings(  # type: ignore[call-arg]
        DATABASE_URL=f"sqlite:///{tmp / 'bench.db'}",
        RASA_PORT=free_port(),
        ACTION_PORT=free_port(),
        GATEWAY_PORT=free_port(),
    )
    upgrade(settings.database_url)
    model, trained = ensure_model()
    print(f"model {model.name}: " + (f"trained in {trained:.1f}s" if trained else "reused"))
    services = build_services(settings, model, run_dir=tmp / "run")
    try:
        for service in services:
            t0 = time.monotonic()
            service.start()
            wait_healthy(service, timeout=240, say=lambda _s: None)
            print(f"{service.name}: healthy after {time.monotonic() - t0:.1f}s")
        url = f"http://127.0.0.1:{settings.gateway_port}/api/webchat/messages"
        times: list[float] = []
        with httpx.Client(timeout=60) as warm:
            warm.post(url, json={"text": "warm up"})
        for i in range(n):
            # A session per message: one session writing this fast would be told to slow
            # down (bot.pipeline.flood).
            with httpx.Client(timeout=60) as client:
                text = MESSAGES[i % len(MESSAGES)]
                t0 = time.perf_counter()
                resp = client.post(url, json={"text": text})
                times.append((time.perf_counter() - t0) * 1000)
                resp.raise_for_status()
        times.sort()
        p95 = times[min(len(times) - 1, round(0.95 * len(times)) - 1)]
        print(f"messages: {n} (mixed en/zh/ar/ru/fr/es, one after another, a session each)")
        print(
            f"reply time: median {statistics.median(times):.1f} ms, p95 {p95:.1f} ms, "
            f"max {times[-1]:.1f} ms"
        )
        for service in services:
            assert service.process is not None
            print(f"resident memory, {service.name}: {rss_mib(service.process.pid):.0f} MiB")
    finally:
        for service in reversed(services):
            service.stop()


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 100)
