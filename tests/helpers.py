"""Small helpers shared by tests."""

from __future__ import annotations

import socket


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# The development key (bot.settings): what the action server of the test stack uses too.
REGISTRY_KEY = b"development-only-registry-key"
