"""The run command's supervisor: health waits, crash reports, clean stops."""

from __future__ import annotations

import os
import signal
import sys
import threading
from pathlib import Path

import pytest

from bot.supervisor import Service, supervise, wait_healthy
from tests.helpers import free_port


def http_service(name: str, tmp_path: Path) -> Service:
    port = free_port()
    return Service(
        name,
        [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"],
        f"http://127.0.0.1:{port}/",
        dict(os.environ),
        tmp_path / f"{name}.log",
    )


def test_crash_of_one_service_is_reported_and_others_stopped(tmp_path: Path) -> None:
    a, b = http_service("alpha", tmp_path), http_service("beta", tmp_path)
    said: list[str] = []
    for s in (a, b):
        s.start()
        wait_healthy(s, timeout=30, say=said.append)
    assert said == [f"  alpha is up ({a.health_url})", f"  beta is up ({b.health_url})"]
    assert b.process is not None
    threading.Timer(0.5, lambda: os.kill(b.process.pid, signal.SIGKILL)).start()  # type: ignore[union-attr]
    assert supervise([a, b], say=said.append) == 1
    assert any("beta stopped unexpectedly" in line for line in said)
    assert a.exit_code() is not None  # the survivor was stopped too


def test_interrupt_stops_everything_cleanly(tmp_path: Path) -> None:
    a = http_service("alpha", tmp_path)
    a.start()
    wait_healthy(a, timeout=30, say=lambda _s: None)
    threading.Timer(0.5, lambda: os.kill(os.getpid(), signal.SIGINT)).start()
    said: list[str] = []
    assert supervise([a], say=said.append) == 0
    assert said == ["stopping…"]
    assert a.exit_code() is not None


def test_service_that_dies_while_starting_is_reported(tmp_path: Path) -> None:
    bad = Service(
        "broken",
        [sys.executable, "-c", "import sys; print('no config'); sys.exit(3)"],
        f"http://127.0.0.1:{free_port()}/",
        dict(os.environ),
        tmp_path / "broken.log",
    )
    bad.start()
    with pytest.raises(RuntimeError, match="broken exited with code 3"):
        wait_healthy(bad, timeout=30, say=lambda _s: None)
    assert "no config" in (tmp_path / "broken.log").read_text()


def test_rasa_token_starting_with_a_dash_is_not_read_as_an_option(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """secrets.token_urlsafe() starts with "-" one time in 64: Rasa's argparse must still
    read it as the token's value (it once failed to start: "expected one argument")."""
    import argparse

    from bot import rasa_runtime

    (tmp_path / "bin").mkdir()
    (tmp_path / "bin" / "rasa").touch()
    monkeypatch.setattr(rasa_runtime, "RASA_VENV", tmp_path)
    cmd = rasa_runtime.rasa_server_command(
        model=tmp_path / "m.tar.gz", port=5005, token="-Xy_z", endpoints=tmp_path / "e.yml"
    )
    parser = argparse.ArgumentParser(exit_on_error=False)
    parser.add_argument("-t", "--auth-token")
    args, _ = parser.parse_known_args(cmd[2:])
    assert args.auth_token == "-Xy_z"
