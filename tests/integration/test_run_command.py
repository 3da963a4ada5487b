"""README's run command, as a user runs it: everything starts, the web chat answers,
Ctrl-C stops all three processes."""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from bot.settings import PROJECT_ROOT
from tests.helpers import free_port

pytestmark = pytest.mark.integration


def read_until(proc: subprocess.Popen[str], marker: str, timeout: float) -> list[str]:
    """Lines the process prints, up to the one containing ``marker``."""
    assert proc.stdout is not None
    stdout = proc.stdout
    lines: queue.Queue[str | None] = queue.Queue()

    def pump() -> None:
        for line in stdout:
            lines.put(line.rstrip("\n"))
        lines.put(None)

    threading.Thread(target=pump, daemon=True).start()
    seen: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            line = lines.get(timeout=1)
        except queue.Empty:
            continue
        if line is None:
            break
        seen.append(line)
        if marker in line:
            return seen
    raise AssertionError(f"{marker!r} not printed; got:\n" + "\n".join(seen))


def port_open(port: int) -> bool:
    try:
        httpx.get(f"http://127.0.0.1:{port}/", timeout=1)
        return True
    except httpx.HTTPError:
        return False


def test_run_command_serves_web_chat_and_stops_on_ctrl_c(tmp_path: Path) -> None:
    ports = {"GATEWAY_PORT": free_port(), "RASA_PORT": free_port(), "ACTION_PORT": free_port()}
    env = (
        dict(os.environ)
        | {k: str(v) for k, v in ports.items()}
        | {"EXPATBOT_VAR": str(tmp_path / "var")}
    )
    env.pop("DATABASE_URL", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "bot.cli", "run"],
        cwd=PROJECT_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        # var/ does not exist yet, as in a fresh clone.
        check_run(proc, ports, tmp_path / "var")
    except AssertionError as exc:
        logs = "\n".join(
            f"--- {p.name}\n{p.read_text()[-3000:]}"
            for p in (tmp_path / "var" / "log").glob("*.log")
        )
        raise AssertionError(f"{exc}\n{logs}") from exc


def check_run(proc: subprocess.Popen[str], ports: dict[str, int], tmp_path: Path) -> None:
    try:
        lines = read_until(proc, "Ctrl-C stops everything", timeout=300)
        assert f"web chat: http://127.0.0.1:{ports['GATEWAY_PORT']}/" in lines
        assert "database: new, demo chats added (channel 'demo')" in lines
        assert not any("token=" in line for line in lines)  # the Rasa token is never printed
        resp = httpx.post(
            f"http://127.0.0.1:{ports['GATEWAY_PORT']}/api/webchat/messages",
            json={"text": "¿Qué números de emergencia hay en China?"},
            timeout=60,
        )
        reply = resp.json()["replies"][0]
        assert reply["language"] == "es" and "110" in reply["html"]
        assert (tmp_path / "expatbot.db").exists()
    finally:
        proc.send_signal(signal.SIGINT)
        assert proc.wait(60) == 0
    assert not any(port_open(p) for p in ports.values())
