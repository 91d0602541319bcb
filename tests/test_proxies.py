"""The client's address behind the site's reverse proxies: believed only from a trusted peer, walked back
from the nearest hop, never further than a garbled one."""

from __future__ import annotations

import pytest

from web.proxies import came_over_https, client_address, networks

TRUSTED = networks(("127.0.0.1", "10.0.0.0/24", "::1"))


@pytest.mark.parametrize(
    ("peer", "headers", "client"),
    [
        ("203.0.113.5", {"X-Forwarded-For": "1.2.3.4"}, "203.0.113.5"),  # not a proxy of ours
        ("127.0.0.1", {}, "127.0.0.1"),
        ("127.0.0.1", {"X-Forwarded-For": "198.51.100.9"}, "198.51.100.9"),
        ("127.0.0.1", {"X-Forwarded-For": "6.6.6.6, 198.51.100.9"}, "198.51.100.9"),  # left: a claim
        ("127.0.0.1", {"X-Forwarded-For": "198.51.100.9, 10.0.0.7"}, "198.51.100.9"),  # two proxies of ours
        ("127.0.0.1", {"X-Forwarded-For": "198.51.100.9, <script>"}, "127.0.0.1"),
        ("127.0.0.1", {"Forwarded": 'for=198.51.100.9;proto=https, for="[2001:db8::7]:4711"'}, "2001:db8::7"),
        ("127.0.0.1", {"Forwarded": "for=unknown", "X-Forwarded-For": "198.51.100.9"}, "127.0.0.1"),
        ("::1", {"X-Forwarded-For": " 198.51.100.9 "}, "198.51.100.9"),
        ("127.0.0.1", {"X-Forwarded-For": ",".join(["10.0.0.1"] * 500)}, "127.0.0.1"),
    ],
)
def test_client_address(peer: str, headers: dict[str, str], client: str) -> None:
    assert client_address(peer, headers, TRUSTED) == client


def test_https_is_a_trusted_proxys_word_only() -> None:
    assert came_over_https("127.0.0.1", {"X-Forwarded-Proto": "https"}, TRUSTED)
    assert came_over_https("127.0.0.1", {"Forwarded": "for=1.2.3.4;proto=https"}, TRUSTED)
    assert not came_over_https("203.0.113.5", {"X-Forwarded-Proto": "https"}, TRUSTED)
    assert not came_over_https("127.0.0.1", {"X-Forwarded-Proto": "http"}, TRUSTED)
