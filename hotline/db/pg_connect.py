"""Connecting to PostgreSQL when it is a primary and standbys under Patroni (a multi-host URL,
`?host=a:5432&host=b:5432&target_session_attrs=read-write`), so that a fail-over costs seconds.

asyncpg tries the hosts in order under one timeout for them all: a first host that is cut off (its
packets dropped) uses the whole timeout, and the host that answers is never tried. Here each host has
a timeout of its own, and the host that last answered as wanted is tried first.

A connection to a member that vanishes without closing it (a cut link) would otherwise hang each call
until the statement timeout, and an idle one for the kernel's two hours: the socket gets TCP keep-alives
and a user timeout, so the kernel gives it up within seconds and the pool opens a new one."""

from __future__ import annotations

import contextlib
import logging
import socket
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
from sqlalchemy.engine import URL

log = logging.getLogger(__name__)

# Seconds of unacknowledged data (or of silence on an idle socket, with the probes) after which the
# kernel ends a connection whose peer has gone without a word.
DEAD_PEER_SECONDS = 6
_KEEPALIVE = (
    (socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1),
    (socket.IPPROTO_TCP, socket.TCP_KEEPIDLE, 3),
    (socket.IPPROTO_TCP, socket.TCP_KEEPINTVL, 1),
    (socket.IPPROTO_TCP, socket.TCP_KEEPCNT, 3),
    (socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT, DEAD_PEER_SECONDS * 1000),
)


def hosts_of(url: URL) -> list[tuple[str, int]]:
    """The (host, port) pairs of a multi-host URL; [] for a URL with one host."""
    given = url.query.get("host", ())
    if not isinstance(given, tuple):
        return []
    pairs = []
    for item in given:
        host, _, port = item.rpartition(":") if ":" in item else (item, "", "5432")
        pairs.append((host, int(port or 5432)))
    return pairs


def creator(
    url: URL, connect_seconds: float, statement_seconds: float | None
) -> Callable[[], Awaitable[asyncpg.Connection]]:
    """An `async_creator` for SQLAlchemy: each host in turn, its own timeout, the writer kept."""
    hosts = hosts_of(url)
    attrs = str(url.query.get("target_session_attrs", "read-write"))
    first = [0]  # the index of the host that answered as wanted last time

    async def connect() -> asyncpg.Connection:
        last: BaseException | None = None
        for step in range(len(hosts)):
            index = (first[0] + step) % len(hosts)
            host, port = hosts[index]
            try:
                conn = await asyncpg.connect(
                    host=host,
                    port=port,
                    user=url.username,
                    password=url.password,
                    database=url.database,
                    timeout=connect_seconds,
                    command_timeout=statement_seconds,
                    target_session_attrs=attrs,
                )
            except (
                OSError,
                TimeoutError,
                asyncpg.PostgresError,
                asyncpg.InterfaceError,
                asyncpg.TargetServerAttributeNotMatched,  # a standby, or a primary being demoted
            ) as exc:
                last = exc
                continue
            first[0] = index
            watch_peer(conn)
            return conn
        # An OSError whatever the cause: to every caller, no writer is the database away (retry later).
        where = ", ".join(f"{h}:{p}" for h, p in hosts)
        raise ConnectionError(f"no database member takes writes ({where}): {last}") from last

    return connect


def watch_peer(conn: Any) -> None:
    """Keep-alives and a user timeout on the connection's socket (where asyncpg exposes it)."""
    transport = getattr(conn, "_transport", None)
    sock = transport.get_extra_info("socket") if transport is not None else None
    if sock is None or sock.family not in (socket.AF_INET, socket.AF_INET6):
        return
    for level, option, value in _KEEPALIVE:
        with contextlib.suppress(OSError):
            sock.setsockopt(level, option, value)
