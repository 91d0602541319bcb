"""Who a request comes from, behind a reverse proxy: the TCP peer is the proxy, so the client's address
(for every limit per address, the audit log and the history) and whether it came over HTTPS are taken
from `Forwarded` (RFC 7239) or `X-Forwarded-For` / `X-Forwarded-Proto`, and only when the peer is one of
the site's trusted proxies (`[web] trusted_proxies`). From anyone else those headers are ignored: a client
could write any address into them."""

from __future__ import annotations

import functools
import ipaddress
import re
from collections.abc import Mapping, Sequence

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address
_FOR = re.compile(r'(?i)(?:^|[;,\s])for\s*=\s*("?)\[?([0-9a-fA-F.:]+)\]?(?::\d+)?\1')
_PROTO = re.compile(r'(?i)(?:^|[;,\s])proto\s*=\s*"?(https?)"?')
MOST_HOPS = 20  # a longer chain is not a proxy's


@functools.lru_cache(maxsize=8)
def networks(entries: tuple[str, ...]) -> tuple[Network, ...]:
    """`[web] trusted_proxies` as networks (an address alone is a network of one)."""
    return tuple(ipaddress.ip_network(entry.strip(), strict=False) for entry in entries)


def _address(text: str) -> Address | None:
    try:
        return ipaddress.ip_address(text.strip().strip("[]"))
    except ValueError:
        return None


def _trusted(address: Address | None, trusted: Sequence[Network]) -> bool:
    return address is not None and any(address in network for network in trusted)


def _hops(headers: Mapping[str, str]) -> list[str]:
    """The addresses the proxies added, the client's first; `Forwarded` wins over `X-Forwarded-For`."""
    if forwarded := headers.get("Forwarded", ""):
        return [m.group(2) for m in _FOR.finditer(forwarded)][:MOST_HOPS]
    return [hop.strip() for hop in headers.get("X-Forwarded-For", "").split(",") if hop.strip()][:MOST_HOPS]


def client_address(peer: str, headers: Mapping[str, str], trusted: Sequence[Network]) -> str:
    """The nearest address that is not a trusted proxy, walking the chain back from the peer; the peer
    itself when it is no trusted proxy, or when a hop is not an address (a garbled header is believed no
    further than the last proxy that is trusted)."""
    if not _trusted(_address(peer), trusted):
        return peer
    for hop in reversed(_hops(headers)):
        address = _address(hop)
        if address is None:
            return peer
        if not _trusted(address, trusted):
            return str(address)
    return peer


def came_over_https(peer: str, headers: Mapping[str, str], trusted: Sequence[Network]) -> bool:
    """What a trusted proxy says of the client's connection."""
    if not _trusted(_address(peer), trusted):
        return False
    if forwarded := headers.get("Forwarded", ""):
        found = _PROTO.search(forwarded)
        return found is not None and found.group(1).lower() == "https"
    return headers.get("X-Forwarded-Proto", "").strip().lower() == "https"
