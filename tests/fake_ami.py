"""A scripted AMI peer for unit tests: speaks Asterisk's side of the protocol over real TCP."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

Reply = Callable[[dict[str, str]], list[bytes]]


def message(**headers: str) -> bytes:
    return "".join(f"{k}: {v}\r\n" for k, v in headers.items()).encode() + b"\r\n"


class FakeAMI:
    def __init__(self, secret: str = "right", banner: bytes = b"Asterisk Call Manager/9.0.0\r\n") -> None:
        self.secret = secret
        self.banner = banner
        self.actions: list[dict[str, str]] = []
        self.replies: dict[str, Reply] = {}
        self.writers: list[asyncio.StreamWriter] = []
        self.server: asyncio.Server | None = None
        self.port = 0

    async def start(self, port: int = 0) -> FakeAMI:
        self.server = await asyncio.start_server(self._session, "127.0.0.1", port)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        for w in self.writers:
            w.close()
        if self.server:
            self.server.close()
            await self.server.wait_closed()

    async def send_raw(self, *chunks: bytes, pause: float = 0.01) -> None:
        """Write bytes to every client in separate TCP writes (to split messages or characters)."""
        for chunk in chunks:
            for w in self.writers:
                w.write(chunk)
                await w.drain()
            await asyncio.sleep(pause)

    async def _session(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.writers.append(writer)
        writer.write(self.banner)
        try:
            while True:
                raw = await reader.readuntil(b"\r\n\r\n")
                action: dict[str, str] = {}
                for line in raw.decode().strip().split("\r\n"):
                    k, _, v = line.partition(": ")
                    action[k] = v
                self.actions.append(action)
                name = action.get("Action", "")
                aid = action.get("ActionID", "")
                if name == "Login":
                    ok = action.get("Secret") == self.secret
                    writer.write(
                        message(Response="Success", ActionID=aid, Message="Authentication accepted")
                        if ok
                        else message(Response="Error", ActionID=aid, Message="Authentication failed")
                    )
                elif name in self.replies:
                    for chunk in self.replies[name](action):
                        writer.write(chunk)
                elif name == "Ping":
                    writer.write(message(Response="Success", ActionID=aid, Ping="Pong"))
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
