"""Rasa opened a new HTTP client session for every call to the action server: Rasa's
`EndpointConfig.request` does `async with self.session() as session`, which makes an
aiohttp `ClientSession` (with its own connection pool) and closes it after one request,
so every action call paid a new TCP connection through the proxy. Profiled under load
(py-spy on a cluster Rasa server, docs/operations.md), that was 12% of the server's CPU.

`install()` makes `EndpointConfig.session` hand out one kept-open session per endpoint
(its URL, headers and credentials) and event loop, with the same headers, credentials
and timeout Rasa gives it; `async with` around it no longer closes it. Connections are
kept idle for at most KEEPALIVE_S, well under the proxy's `timeout client` (65 s,
deploy/haproxy.cfg): the client closes an idle connection before the proxy would, so a
request is never sent on a connection the proxy is closing.
"""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
from rasa.utils.endpoints import DEFAULT_REQUEST_TIMEOUT, EndpointConfig

KEEPALIVE_S = 15.0

_installed = False
_sessions: dict[tuple[Any, ...], aiohttp.ClientSession] = {}


class _Kept:
    """What `async with endpoint.session()` enters: the shared session, left open."""

    def __init__(self, session: aiohttp.ClientSession) -> None:
        self._session = session

    async def __aenter__(self) -> aiohttp.ClientSession:
        return self._session

    async def __aexit__(self, *_exc: object) -> None:
        return None


def _key(endpoint: EndpointConfig) -> tuple[Any, ...]:
    auth = endpoint.basic_auth or {}
    return (
        id(asyncio.get_running_loop()),
        endpoint.url,
        tuple(sorted((endpoint.headers or {}).items())),
        auth.get("username"),
        auth.get("password"),
    )


def kept_session(endpoint: EndpointConfig) -> _Kept:
    key = _key(endpoint)
    session = _sessions.get(key)
    if session is None or session.closed:
        auth = None
        if endpoint.basic_auth:
            auth = aiohttp.BasicAuth(
                endpoint.basic_auth["username"], endpoint.basic_auth["password"]
            )
        session = _sessions[key] = aiohttp.ClientSession(
            headers=endpoint.headers,
            auth=auth,
            timeout=aiohttp.ClientTimeout(total=DEFAULT_REQUEST_TIMEOUT),
            connector=aiohttp.TCPConnector(keepalive_timeout=KEEPALIVE_S),
        )
    return _Kept(session)


def install() -> None:
    global _installed
    if _installed:
        return
    EndpointConfig.session = kept_session  # type: ignore[assignment,method-assign]
    _installed = True
