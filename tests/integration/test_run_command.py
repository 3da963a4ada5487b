"""README's run command, as a user runs it: everything starts, the web chat answers, the
action server comes back after it crashes or hangs, Ctrl-C stops all three processes."""

from __future__ import annotations

import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from bot.ops import ports
from bot.settings import PROJECT_ROOT
from tests.helpers import free_port

pytestmark = pytest.mark.integration

TOKEN = "run-command-test-token-0123"
QUESTION = "¿Qué números de emergencia hay en China?"


class Output:
    """The run command's console: one reader thread, every line kept."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        assert proc.stdout is not None
        stdout = proc.stdout
        self.lines: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()

        def pump() -> None:
            for line in stdout:
                self._queue.put(line.rstrip("\n"))
            self._queue.put(None)

        threading.Thread(target=pump, daemon=True).start()

    def until(self, found: Callable[[str], bool], timeout: float, what: str) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self._queue.get(timeout=1)
            except queue.Empty:
                continue
            if line is None:
                break
            self.lines.append(line)
            if found(line):
                return line
        raise AssertionError(f"{what} not printed; got:\n" + "\n".join(self.lines))


def port_open(port: int) -> bool:
    try:
        httpx.get(f"http://127.0.0.1:{port}/", timeout=1)
        return True
    except httpx.HTTPError:
        return False


def ask(gateway: int, text: str = QUESTION) -> dict[str, Any]:
    resp = httpx.post(
        f"http://127.0.0.1:{gateway}/api/webchat/messages", json={"text": text}, timeout=60
    )
    reply: dict[str, Any] = resp.json()["replies"][0]
    return reply


def health(gateway: int) -> tuple[int, dict[str, str]]:
    resp = httpx.get(f"http://127.0.0.1:{gateway}/healthz", timeout=10)
    return resp.status_code, resp.json()


def wait_for(check: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.1)
    return False


def test_run_command_serves_web_chat_and_stops_on_ctrl_c(tmp_path: Path) -> None:
    ports_ = {"GATEWAY_PORT": free_port(), "RASA_PORT": free_port(), "ACTION_PORT": free_port()}
    env = (
        dict(os.environ)
        | {k: str(v) for k, v in ports_.items()}
        | {"EXPATBOT_VAR": str(tmp_path / "var"), "RASA_TOKEN": TOKEN}
    )
    env.pop("DATABASE_URL", None)
    env.pop("ACTION_SERVER_URL", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "bot.ops.cli", "run"],
        cwd=PROJECT_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        # var/ does not exist yet, as in a fresh clone.
        check_run(proc, Output(proc), ports_, tmp_path / "var")
    except AssertionError as exc:
        logs = "\n".join(
            f"--- {p.name}\n{p.read_text()[-3000:]}"
            for p in (tmp_path / "var" / "log").glob("*.log")
        )
        raise AssertionError(f"{exc}\n{logs}") from exc
    finally:
        if proc.poll() is None:
            proc.kill()


def check_run(proc: subprocess.Popen[str], out: Output, ports_: dict[str, int], var: Path) -> None:
    gateway, action_port = ports_["GATEWAY_PORT"], ports_["ACTION_PORT"]
    try:
        out.until(lambda line: "Ctrl-C stops everything" in line, 300, "the ready line")
        assert f"web chat: http://127.0.0.1:{gateway}/" in out.lines
        assert "database: new, demo chats added (channel 'demo')" in out.lines
        resident = re.compile(
            r"demo resident to link with \(/link\): card .+, born \d{4}-\d\d-\d\d$"
        )
        assert any(resident.match(line) for line in out.lines)
        assert not any(TOKEN in line for line in out.lines)  # the Rasa token is never printed
        reply = ask(gateway)
        assert reply["language"] == "es" and "110" in reply["html"]
        assert (var / "expatbot.db").exists()
        assert health(gateway) == (
            200,
            {"status": "ok", "database": "ok", "rasa": "ok", "action_server": "ok"},
        )
        assert_no_token_on_command_lines()
        dead_worker_is_noticed(out, gateway, action_port)
        killed_action_server_comes_back(out, gateway, action_port)
        # The action server's outages were its own: nothing else was restarted.
        assert [line for line in out.lines if line.startswith("!!")] == [
            line for line in out.lines if line.startswith("!! action server ")
        ]
    finally:
        proc.send_signal(signal.SIGINT)
        assert proc.wait(60) == 0
    assert not any(port_open(p) for p in ports_.values())


def assert_no_token_on_command_lines() -> None:
    """`ps` shows every user the arguments of every process."""
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            assert TOKEN not in ports.command_of(int(entry.name)), ports.command_of(int(entry.name))


def action_server(action_port: int) -> tuple[int, int]:
    """(process group leader, the process that serves) of the action server's port."""
    holders = ports.listeners(action_port)
    (leader,) = [h.pid for h in holders if h.pid == h.pgid]
    return leader, max(h.pid for h in holders)


def dead_worker_is_noticed(out: Output, gateway: int, action_port: int) -> None:
    """The port still accepts, nobody answers: rasa-sdk's worker killed behind its manager
    (the old process tree), or today's one process hung. Only a health check that
    reaches the serving code notices; it once went unnoticed for good."""
    leader, serving = action_server(action_port)
    os.kill(serving, signal.SIGKILL if serving != leader else signal.SIGSTOP)
    out.until(
        lambda line: line.startswith("!! action server failed 3 health checks in a row"),
        120,
        "the health check failure",
    )
    out.until(lambda line: line.startswith("  action server is up again"), 120, "the restart")
    assert ask(gateway)["language"] == "es"
    assert action_server(action_port)[0] != leader


def killed_action_server_comes_back(out: Output, gateway: int, action_port: int) -> None:
    """kill -9 of its main process once stopped everything, and its surviving children
    kept the port, so the next start failed with "address already in use"."""
    leader, _ = action_server(action_port)
    os.kill(leader, signal.SIGKILL)
    down: list[dict[str, str]] = []

    def gateway_says_action_server_is_down() -> bool:
        code, body = health(gateway)
        if code == 503:
            down.append(body)
        return bool(down)

    # The restart waits its backoff first: the gateway's health names what is down.
    assert wait_for(gateway_says_action_server_is_down, 30)
    assert down[0]["status"] == "degraded" and down[0]["action_server"] == "unreachable"
    assert down[0]["rasa"] == "ok" and down[0]["database"] == "ok"
    out.until(
        lambda line: line.startswith("!! action server exited (code -9); restarting in "),
        60,
        "the crash report",
    )
    out.until(lambda line: line.startswith("  action server is up again"), 120, "the restart")
    reply = ask(gateway)
    assert reply["language"] == "es" and "110" in reply["html"]
    assert wait_for(lambda: health(gateway)[0] == 200, 30)
