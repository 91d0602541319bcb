"""Photos a citizen sent through a chat platform, fetched from the platform's own media hosts and nowhere
else. The URL comes in a signed event, but the platform passes on what a sender wrote, so it is hostile:
only hosts under the channel's `media_hosts` are asked; every address a name resolves to must be a public
one (never loopback, private, link-local or reserved, unless the site lists the network in
`media_networks`), and the connection goes to the address that was checked (no second lookup to
rebind); a redirect is followed only to another allowed host, at most MOST_REDIRECTS times."""

from __future__ import annotations

import ipaddress
import logging
import socket
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin, urlsplit

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import ThreadedResolver

from casework import attachments

log = logging.getLogger(__name__)
MOST_PHOTOS = 5
MOST_REDIRECTS = 3
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class MediaRefused(Exception):
    """Why a photo's address is not fetched."""


@dataclass(frozen=True)
class MediaRules:
    hosts: tuple[str, ...]  # a host itself or any name under it
    networks: tuple[Network, ...] = ()  # private networks a site allows all the same

    def check_host(self, url: str) -> str:
        """The URL's host, if it may be asked at all; MediaRefused otherwise."""
        parts = urlsplit(url)
        host = (parts.hostname or "").rstrip(".").lower()
        if parts.scheme not in ("https", "http") or not host:
            raise MediaRefused(f"not a web address: {url[:80]!r}")
        if not any(host == h or host.endswith("." + h) for h in self.hosts):
            raise MediaRefused(f"{host} is not one of the platform's media hosts")
        try:
            literal = ipaddress.ip_address(host)
        except ValueError:
            return host
        self.check_address(str(literal))  # a name is checked when it resolves; a literal address now
        return host

    def check_address(self, address: str) -> None:
        ip = ipaddress.ip_address(address.split("%")[0])
        if any(ip in network for network in self.networks):
            return
        if not ip.is_global or ip.is_multicast:
            raise MediaRefused(f"{ip} is not a public address")


class _CheckedResolver(AbstractResolver):
    """Resolves as usual, then keeps only the addresses the rules allow: the connection is made to one of
    those, so the name cannot be made to point elsewhere between the check and the connection."""

    def __init__(self, rules: MediaRules) -> None:
        self._rules = rules
        self._resolver = ThreadedResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        found = await self._resolver.resolve(host, port, family)
        allowed = []
        for entry in found:
            try:
                self._rules.check_address(entry["host"])
            except MediaRefused as exc:
                log.warning("a chat photo's host %s resolves to a refused address: %s", host, exc)
                continue
            allowed.append(entry)
        if not allowed:
            raise OSError(f"{host}: no public address")
        return allowed

    async def close(self) -> None:
        await self._resolver.close()


def rules_for(hosts: Sequence[str], networks: Sequence[str]) -> MediaRules:
    return MediaRules(
        tuple(h.strip().lower().rstrip(".") for h in hosts if h.strip()),
        tuple(ipaddress.ip_network(n.strip(), strict=False) for n in networks),
    )


async def fetch_files(
    items: list[tuple[str, str]], rules: MediaRules
) -> tuple[list[tuple[str, bytes]], list[str]]:
    """The files sent, as (name, url), each at most attachments.MOST_BYTES: those fetched, and for each
    that may not or cannot be fetched the reason, for the staff and the citizen (it does not stop the
    message)."""
    out: list[tuple[str, bytes]] = []
    refused = [f"{name}: at most {MOST_PHOTOS} files a message" for name, _ in items[MOST_PHOTOS:]]
    connector = aiohttp.TCPConnector(resolver=_CheckedResolver(rules), use_dns_cache=False)
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=20)) as http:
        for name, url in items[:MOST_PHOTOS]:
            why = "could not be fetched from the platform"
            try:
                data = await _fetch(http, url, rules)
            except MediaRefused as exc:
                data, why = None, str(exc)
            except (aiohttp.ClientError, TimeoutError, OSError, ValueError) as exc:
                log.warning("a chat file was not fetched: %s", exc)
                data = None
            if data is None:
                refused.append(f"{name}: {why}")
            else:
                out.append((name, data))
    return out, refused


async def _fetch(http: aiohttp.ClientSession, url: str, rules: MediaRules) -> bytes | None:
    for _ in range(MOST_REDIRECTS + 1):
        rules.check_host(url)
        options: dict[str, Any] = {"allow_redirects": False}
        async with http.get(url, **options) as reply:
            if reply.status in (301, 302, 303, 307, 308) and "Location" in reply.headers:
                url = urljoin(url, reply.headers["Location"])
                continue
            if reply.status != 200:
                return None
            data = await reply.content.read(attachments.MOST_BYTES + 1)
            if len(data) > attachments.MOST_BYTES:
                raise MediaRefused(f"larger than {attachments.MOST_BYTES // (1024 * 1024)} MB")
            return data
    raise MediaRefused(f"more than {MOST_REDIRECTS} redirects")
