"""The run command's supervisor, with small dummy servers in place of the real ones.

The dummy "sanic-like" server reproduces what the action server's process tree did: a
leader that binds the port and forks a worker that serves it; the leader holds the
listening socket too, so with the worker dead, connections are accepted and never
answered.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from bot.ops import ports
from bot.ops.supervisor import PortInUse, RestartPolicy, Service, supervise, wait_healthy
from tests.helpers import free_port

FAST = RestartPolicy(
    first_backoff_s=0.1,
    health_interval_s=0.2,
    health_timeout_s=0.5,
    health_failures=2,
    stop_timeout_s=5,
    tick_s=0.05,
)

DUMMY = textwrap.dedent(
    """
    import os, socket, sys, time
    port, status, fork = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3] == "fork"
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", port))
    s.listen(16)
    if fork and os.fork() != 0:
        while True:  # the manager: keeps the socket open, serves nothing
            time.sleep(1)
    body = b"ok"
    while True:
        c, _ = s.accept()
        c.recv(65536)
        c.sendall(b"HTTP/1.0 %d X\\r\\nContent-Length: 2\\r\\n\\r\\n" % status + body)
        c.close()
    """
)


_made: list[Service] = []


@pytest.fixture(autouse=True)
def _stop_dummies() -> Iterator[None]:
    """Whatever a test leaves running (a failed assertion, an old supervisor) is ended."""
    yield
    while _made:
        service = _made.pop()
        service.stop(2)
        if service.process is not None and service.pgid is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(service.process.pid, signal.SIGKILL)


def dummy(
    name: str, tmp_path: Path, *, fork: bool = False, status: int = 200, **kw: object
) -> Service:
    script = tmp_path / "dummy_server.py"
    script.write_text(DUMMY)
    port = free_port()
    cmd = [sys.executable, str(script), str(port), str(status), "fork" if fork else "single"]
    service = Service(
        name, cmd, f"http://127.0.0.1:{port}/health", dict(os.environ), tmp_path / f"{name}.log",
        **kw,  # type: ignore[arg-type]
    )  # fmt: skip
    _made.append(service)
    return service


def started(service: Service) -> Service:
    service.start()
    wait_healthy(service, timeout=30, say=lambda _s: None, poll=0.05)
    return service


def worker_of(service: Service) -> int:
    assert service.pgid is not None
    (worker,) = [p for p in ports.group_members(service.pgid) if p != service.pgid]
    return worker


def eventually(check: Callable[[], bool], timeout: float = 30) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.05)
    return False


def run_supervised(
    services: list[Service],
    scenario: Callable[[list[str]], None],
    policy: RestartPolicy = FAST,
) -> tuple[int, list[str]]:
    """supervise() in this (main) thread; `scenario` (seeing what it said) in another,
    then Ctrl-C."""
    said: list[str] = []
    handler = signal.getsignal(signal.SIGINT)

    def drive() -> None:
        try:
            # Ctrl-C before supervise() took over SIGINT would interrupt the test itself.
            assert eventually(lambda: signal.getsignal(signal.SIGINT) is not handler)
            scenario(said)
        finally:
            if signal.getsignal(signal.SIGINT) is not handler:  # supervise() still runs
                os.kill(os.getpid(), signal.SIGINT)

    thread = threading.Thread(target=drive, daemon=True)
    thread.start()
    code = supervise(services, say=said.append, policy=policy)
    thread.join(10)
    return code, said


def up_again(said: list[str], service: Service, times: int = 1) -> Callable[[], bool]:
    return lambda: said.count(f"  {service.name} is up again ({service.health_url})") >= times


def test_stop_ends_the_children_of_a_leader_killed_with_sigkill(tmp_path: Path) -> None:
    """kill -9 of the action server's main process left its worker holding the port."""
    service = started(dummy("alpha", tmp_path, fork=True))
    assert service.process is not None and service.pgid is not None and service.port
    worker = worker_of(service)
    os.kill(service.process.pid, signal.SIGKILL)
    assert eventually(lambda: service.exit_code() is not None)
    service.stop()
    assert not running(worker) and not ports.group_members(service.process.pid)
    assert ports.port_free(host="127.0.0.1", port=service.port)


def running(pid: int) -> bool:
    """Exists and is not a zombie (an orphan's zombie waits for init to reap it)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rindex(")") + 2] != "Z"


def test_crashed_service_is_restarted_with_growing_backoff_and_says_so(tmp_path: Path) -> None:
    service = started(dummy("alpha", tmp_path))
    pids: list[int] = []

    def crash_twice(said: list[str]) -> None:
        for times in (1, 2):
            assert service.process is not None
            os.kill(service.process.pid, signal.SIGKILL)
            assert eventually(up_again(said, service, times))
            assert service.process is not None
            pids.append(service.process.pid)

    code, said = run_supervised([service], crash_twice)
    assert code == 0
    assert "!! alpha exited (code -9); restarting in 0.1s" in said
    assert "!! alpha exited (code -9); restarting in 0.2s" in said  # doubled
    assert said.count(f"  alpha is up again ({service.health_url})") == 2
    assert len(set(pids)) == 2
    assert service.exit_code() is not None  # Ctrl-C stopped it


def test_dead_worker_behind_an_open_port_is_found_by_the_health_check(tmp_path: Path) -> None:
    """kill -9 of the worker alone: the port still accepts, nothing answers, the leader
    lives. Only a health check that reaches the serving process notices."""
    service = started(dummy("alpha", tmp_path, fork=True))
    leader = service.pgid

    def kill_worker(said: list[str]) -> None:
        os.kill(worker_of(service), signal.SIGKILL)
        assert eventually(up_again(said, service))
        assert service.pgid not in (None, leader)

    code, said = run_supervised([service], kill_worker)
    assert code == 0
    assert any(
        line.startswith("!! alpha failed 2 health checks in a row") and "restarting in" in line
        for line in said
    ), said
    assert f"  alpha is up again ({service.health_url})" in said


def test_a_stopped_process_is_found_by_the_health_check(tmp_path: Path) -> None:
    service = started(dummy("alpha", tmp_path))
    assert service.process is not None
    first = service.process.pid

    def freeze(said: list[str]) -> None:
        os.kill(first, signal.SIGSTOP)
        assert eventually(up_again(said, service))

    code, said = run_supervised([service], freeze)
    assert code == 0
    assert any(line.startswith("!! alpha failed 2 health checks in a row") for line in said)
    assert not running(first)  # killed even though it was stopped


def test_service_that_keeps_crashing_ends_the_run(tmp_path: Path) -> None:
    good = started(dummy("alpha", tmp_path))
    bad = Service(
        "broken",
        [sys.executable, "-c", "import sys; sys.exit(3)"],
        f"http://127.0.0.1:{free_port()}/",
        dict(os.environ),
        tmp_path / "broken.log",
    )
    bad.start()
    said: list[str] = []
    policy = RestartPolicy(
        first_backoff_s=0.05, max_restarts=2, window_s=600, stop_timeout_s=5, tick_s=0.02
    )
    assert supervise([good, bad], say=said.append, policy=policy) == 1
    assert said[0] == "!! broken exited (code 3); restarting in 0.05s"
    assert said[2] == "!! broken exited while starting (code 3); restarting in 0.1s"
    assert (
        said[4] == "!! broken exited while starting (code 3); restarted 2 times in 600s, giving up"
    )
    assert good.exit_code() is not None  # the others were stopped too


def test_degraded_but_serving_gateway_is_not_restarted(tmp_path: Path) -> None:
    """503 from the gateway's /healthz means a dependency is down, not the gateway."""
    gateway = dummy("gateway", tmp_path, status=503, alive_statuses=frozenset({200, 503}))
    plain = dummy("plain", tmp_path, status=503)
    for s in (gateway, plain):
        s.start()
    assert eventually(lambda: gateway.alive(0.5))
    assert eventually(lambda: plain.port is not None and plain._status(0.5) == 503)
    code, said = run_supervised([gateway, plain], lambda _: time.sleep(FAST.health_interval_s * 8))
    assert code == 0
    assert not any(line.startswith("!! gateway") for line in said)
    assert any(line.startswith("!! plain failed 2 health checks in a row") for line in said)


def test_port_held_by_a_stale_process_group_is_reported(tmp_path: Path) -> None:
    """A previous run's server still on the port would answer the new one's health check."""
    port = free_port()
    (tmp_path / "dummy_server.py").write_text(DUMMY)
    stale = subprocess.Popen(
        [sys.executable, str(tmp_path / "dummy_server.py"), str(port), "200", "fork"],
        start_new_session=True,
    )
    try:
        assert eventually(lambda: not ports.port_free(host="127.0.0.1", port=port))
        service = Service(
            "action server",
            [sys.executable, "-c", "pass"],
            f"http://127.0.0.1:{port}/health",
            dict(os.environ),
            tmp_path / "a.log",
        )
        with pytest.raises(PortInUse) as caught:
            service.start()
        message = str(caught.value)
        assert f"cannot start action server: port {port} on 127.0.0.1 is already in use" in message
        assert f"pid {stale.pid} (process group {stale.pid})" in message
        assert f"kill -- -{stale.pid}" in message
        assert service.process is None
    finally:
        os.killpg(stale.pid, signal.SIGKILL)
        stale.wait()


def test_interrupt_stops_everything_cleanly(tmp_path: Path) -> None:
    a = started(dummy("alpha", tmp_path, fork=True))
    assert a.pgid is not None
    group = a.pgid
    code, said = run_supervised([a], lambda _: time.sleep(0.3))
    assert code == 0 and said == ["stopping…"]
    assert a.exit_code() is not None and not ports.group_members(group)


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


def test_up_message_never_shows_the_health_urls_token(tmp_path: Path) -> None:
    service = dummy("Rasa server", tmp_path)
    service.health_url += "?token=s3cret"
    said: list[str] = []
    service.start()
    try:
        wait_healthy(service, timeout=30, say=said.append, poll=0.05)
    finally:
        service.stop()
    assert said == [f"  Rasa server is up (http://127.0.0.1:{service.port}/health)"]
