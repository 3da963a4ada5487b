"""Who holds a TCP port, and which processes belong to a process group (Linux /proc).

The supervisor uses this to refuse to start a service on a port that a stale process
still holds (it would answer the health check in place of the new one), and to tell the
operator exactly which process group to stop. Outside Linux the lookups return nothing
and the messages say less; the bind test itself works everywhere.
"""

from __future__ import annotations

import contextlib
import os
import socket
from dataclasses import dataclass
from pathlib import Path

PROC = Path("/proc")
_LISTEN = "0A"  # TCP state LISTEN in /proc/net/tcp


@dataclass(frozen=True)
class Holder:
    pid: int
    pgid: int | None
    command: str


def free_port(host: str = "127.0.0.1") -> int:
    """A port nothing listens on now (the kernel's choice; a race with another
    process binding it before us is possible but rare on one machine)."""
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def port_free(*, host: str, port: int) -> bool:
    """True when a server could listen on host:port now.

    SO_REUSEADDR as servers set it: connections in TIME_WAIT after a restart do not
    count, a listening socket does.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


def _listening_inodes(port: int) -> set[str]:
    inodes: set[str] = set()
    for table in ("tcp", "tcp6"):
        with contextlib.suppress(OSError):
            for line in (PROC / "net" / table).read_text().splitlines()[1:]:
                fields = line.split()
                if len(fields) < 10 or fields[3] != _LISTEN:
                    continue
                if int(fields[1].rsplit(":", 1)[1], 16) == port:
                    inodes.add(fields[9])
    return inodes


def command_of(pid: int) -> str:
    try:
        raw = (PROC / str(pid) / "cmdline").read_bytes()
    except OSError:
        return "?"
    return raw.rstrip(b"\0").replace(b"\0", b" ").decode(errors="replace")


def _pgid(pid: int) -> int | None:
    try:
        return os.getpgid(pid)
    except OSError:
        return None


def listeners(port: int) -> list[Holder]:
    """Processes (of this user: others' fds are not readable) listening on the port."""
    inodes = {f"socket:[{inode}]" for inode in _listening_inodes(port)}
    if not inodes:
        return []
    found: list[Holder] = []
    for entry in PROC.iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            if any(os.readlink(fd) in inodes for fd in (entry / "fd").iterdir()):
                pid = int(entry.name)
                found.append(Holder(pid, _pgid(pid), command_of(pid)))
    return sorted(found, key=lambda h: h.pid)


def group_members(pgid: int) -> list[int]:
    """Live (not zombie) processes of a process group.

    Zombies are skipped: an orphan that init has not reaped yet holds no port and no
    resources, and waiting for it could take forever in a container without an init.
    """
    if not PROC.is_dir():
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return []
        except PermissionError:
            pass
        return [pgid]
    members: list[int] = []
    for entry in PROC.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # "pid (comm) state ppid pgrp ...": comm may hold spaces and parentheses.
        fields = stat[stat.rindex(")") + 2 :].split()
        if fields[0] != "Z" and int(fields[2]) == pgid:
            members.append(int(entry.name))
    return sorted(members)


def describe_holders(*, host: str, port: int) -> str:
    holders = listeners(port)
    if not holders:
        return (
            f"port {port} on {host} is already in use "
            "(by a process this user cannot see, or one that is just closing)"
        )
    lines = [f"port {port} on {host} is already in use by:"]
    groups: list[int] = []
    for h in holders:
        lines.append(f"    pid {h.pid} (process group {h.pgid}): {h.command[:200]}")
        if h.pgid is not None and h.pgid not in groups:
            groups.append(h.pgid)
    if groups:
        kill = "; ".join(f"kill -- -{g}" for g in groups)
        lines.append(f"  probably left over from an earlier run; stop it with: {kill}")
    return "\n".join(lines)
