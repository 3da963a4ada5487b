"""Where a turn's time goes: the gateway, Rasa (NLU, policies, tracker) and the actions.

Starts the one-process default's three servers (as `expatbot run` does: SQLite, Rasa's
in-memory tracker store) on free ports, sends N messages one after another through the
web chat's HTTP API, then reads each process's own /metrics (the gateway's reply time,
Rasa's turn time, the action server's time per action) and times Rasa's NLU alone on the
same texts (/model/parse). It prints the mean per message of each layer:

    web request (client)   what a user waits for
    gateway turn           message stored -> outcome stored (expatbot_reply_seconds)
    Rasa turn              Rasa's channel, from request to reply (expatbot_rasa_turn_seconds)
    actions                the action server's own time (expatbot_action_seconds), all calls
    NLU parse              /model/parse alone
    and the differences: the gateway outside Rasa, Rasa outside NLU and actions
    (policies, tracker, action round trips);
    then each process's CPU time per message while the messages were sent (/proc).

With --rate R the messages are sent at R a second from concurrent web sessions instead
of one after another (an open model), to see where time goes under load.

Usage: .venv/bin/python bench/turn_profile.py [--messages 200] [--rate 0]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.reply_latency import MESSAGES, rss_mib
from bot.db import upgrade
from bot.nlu.rasa_runtime import ensure_model
from bot.ops.ports import free_port
from bot.ops.supervisor import build_services, wait_healthy
from bot.settings import Settings

TOKEN = "bench-metrics-token"
RASA_TOKEN = "bench-rasa-token"


def cpu_seconds(pid: int) -> float:
    """User and system CPU time of a process and its children so far (Linux /proc)."""
    ticks = os.sysconf("SC_CLK_TCK")
    pids = [pid]
    children = Path(f"/proc/{pid}/task/{pid}/children")
    if children.exists():
        pids += [int(p) for p in children.read_text().split()]
    total = 0
    for p in pids:
        fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / ticks


def metric_sums(text: str, name: str) -> tuple[float, float]:
    """(sum, count) of a histogram over all its label sets, from Prometheus text."""
    total = count = 0.0
    for line in text.splitlines():
        if line.startswith(f"{name}_sum"):
            total += float(line.rsplit(" ", 1)[1])
        elif line.startswith(f"{name}_count"):
            count += float(line.rsplit(" ", 1)[1])
    return total, count


def scrape(url: str) -> str:
    resp = httpx.get(url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10)
    resp.raise_for_status()
    return resp.text


async def send_all(base: str, n: int, rate: float) -> list[float]:
    """Reply times (ms) of n messages, each from a new web session (one session writing
    this fast would be told to slow down): one after another, or at `rate` a second."""
    times: list[float] = []
    transport = httpx.AsyncHTTPTransport()

    async def one(i: int, client: httpx.AsyncClient) -> None:
        t0 = time.perf_counter()
        resp = await client.post(
            f"{base}/api/webchat/messages",
            json={"text": MESSAGES[i % len(MESSAGES)]},
            headers={"Origin": base},
        )
        resp.raise_for_status()
        times.append((time.perf_counter() - t0) * 1000)

    if rate <= 0:
        for i in range(n):
            async with httpx.AsyncClient(timeout=60, transport=transport) as client:
                await one(i, client)
        return times
    clients = [httpx.AsyncClient(timeout=60, transport=transport) for _ in range(n)]
    started = time.monotonic()
    tasks = []
    for i in range(n):
        await asyncio.sleep(max(0.0, started + i / rate - time.monotonic()))
        tasks.append(asyncio.create_task(one(i, clients[i])))
    await asyncio.gather(*tasks)
    for client in clients:
        await client.aclose()
    return times


def nlu_times(rasa_url: str, n: int) -> list[float]:
    times = []
    with httpx.Client(timeout=30) as client:
        for i in range(n):
            t0 = time.perf_counter()
            resp = client.post(
                f"{rasa_url}/model/parse",
                params={"token": RASA_TOKEN},
                json={"text": MESSAGES[i % len(MESSAGES)]},
            )
            resp.raise_for_status()
            times.append((time.perf_counter() - t0) * 1000)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=200)
    parser.add_argument("--rate", type=float, default=0.0, help="messages a second (0: serial)")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="expatbot-profile-"))
    settings = Settings(  # type: ignore[call-arg]
        DATABASE_URL=f"sqlite:///{tmp / 'bench.db'}",
        EXPATBOT_VAR=str(tmp / "var"),
        RASA_PORT=free_port(),
        ACTION_PORT=free_port(),
        GATEWAY_PORT=free_port(),
        RASA_TOKEN=RASA_TOKEN,
        METRICS_TOKEN=TOKEN,
    )
    upgrade(settings.database_url)
    model, _ = ensure_model()
    services = build_services(settings, model, run_dir=tmp / "run")
    gateway = f"http://127.0.0.1:{settings.gateway_port}"
    rasa = f"http://127.0.0.1:{settings.rasa_port}"
    actions = f"http://127.0.0.1:{settings.action_port}"
    try:
        for service in services:
            service.start()
            wait_healthy(service, timeout=240, say=lambda _s: None)
        asyncio.run(send_all(gateway, 6, 0))  # warm-up: every language once
        before = {u: scrape(f"{u}/metrics") for u in (gateway, rasa, actions)}
        cpu_before = {s.name: cpu_seconds(s.process.pid) for s in services if s.process}
        started = time.perf_counter()
        web = asyncio.run(send_all(gateway, args.messages, args.rate))
        wall = time.perf_counter() - started
        cpu_after = {s.name: cpu_seconds(s.process.pid) for s in services if s.process}
        after = {u: scrape(f"{u}/metrics") for u in (gateway, rasa, actions)}
        nlu = nlu_times(rasa, args.messages)

        def mean_ms(url: str, name: str) -> tuple[float, float]:
            s1, c1 = metric_sums(after[url], name)
            s0, c0 = metric_sums(before[url], name)
            return (s1 - s0) * 1000, c1 - c0

        turn_ms, turns = mean_ms(gateway, "expatbot_reply_seconds")
        rasa_ms, rasa_turns = mean_ms(rasa, "expatbot_rasa_turn_seconds")
        action_ms, action_calls = mean_ms(actions, "expatbot_action_seconds")
        n = args.messages
        mode = "one after another" if args.rate <= 0 else f"{args.rate:g}/s"
        print(f"{n} messages ({mode}) in {wall:.1f}s: {n / wall:.1f} messages a second")
        print(f"{'layer':<34}{'mean ms/message':>16}")
        rows = [
            ("web request (client)", statistics.mean(web)),
            ("gateway turn", turn_ms / max(turns, 1)),
            ("  Rasa turn", rasa_ms / max(rasa_turns, 1)),
            ("    actions (all calls)", action_ms / max(rasa_turns, 1)),
            ("    NLU parse (alone)", statistics.mean(nlu)),
        ]
        for name, value in rows:
            print(f"{name:<34}{value:>16.1f}")
        gateway_own = turn_ms / max(turns, 1) - rasa_ms / max(rasa_turns, 1)
        rasa_own = (rasa_ms - action_ms) / max(rasa_turns, 1) - statistics.mean(nlu)
        print(f"{'gateway outside Rasa':<34}{gateway_own:>16.1f}")
        print(f"{'Rasa outside NLU and actions':<34}{rasa_own:>16.1f}")
        print(f"action calls per turn: {action_calls / max(rasa_turns, 1):.2f}")
        nlu.sort()
        print(f"NLU parse alone p95 {nlu[int(0.95 * (len(nlu) - 1))]:.1f} ms")
        web.sort()
        print(
            f"web reply p50 {web[len(web) // 2]:.0f} ms, "
            f"p95 {web[int(0.95 * (len(web) - 1))]:.0f} ms"
        )
        per_action = re.findall(
            r'expatbot_action_seconds_count\{action="([^"]+)"\} ([0-9.e+]+)', after[actions]
        )
        print("actions called:", ", ".join(f"{a} {float(c):.0f}" for a, c in per_action))
        for service in services:
            assert service.process is not None
            cpu_ms = (cpu_after[service.name] - cpu_before[service.name]) * 1000 / n
            print(
                f"{service.name}: CPU {cpu_ms:.1f} ms per message, "
                f"resident memory {rss_mib(service.process.pid):.0f} MiB"
            )
    finally:
        for service in reversed(services):
            service.stop()


if __name__ == "__main__":
    main()
