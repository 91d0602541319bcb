"""What every handler works with: the app's context (settings, the parts it shares with the rest of the
process, today's counters, the live board's broadcaster), who is asking, and a page rendered in the reader's
language."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol
from zoneinfo import ZoneInfo

import aiohttp_jinja2
from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ami_bridge.case_writer import CaseWriter
from ami_bridge.live import LiveBoard
from ami_bridge.session import AMIService
from casework.steps import Steps
from hotline.db.numbers import NumberAllocator
from hotline.settings import Settings
from web import i18n, proxies
from web.auth import Principal
from web.live import Broadcaster
from web.stats import Today
from web.suggestions import Suggestions
from web.throttle import Throttle

HERE = Path(__file__).resolve().parent
# Debian's libjs-chart.js (scripts/run and scripts/test install it); the reports page says so if missing.
ADDRESS_FREE_TRIES = 20
CHART_JS = Path("/usr/share/javascript/chart.js")
HAVE_CHART_JS = CHART_JS.is_dir()
# Debian's libjs-leaflet, for the maps of requests by ward (installed beside chart.js).
LEAFLET = Path("/usr/share/javascript/leaflet")
HAVE_LEAFLET = LEAFLET.is_dir()


class Shared(Protocol):
    """What the web app takes from the process it runs in (shell/service.py builds them once for the
    bridge, the FastAGI server and the web app alike)."""

    @property
    def db(self) -> async_sessionmaker[AsyncSession]: ...
    @property
    def numbers(self) -> NumberAllocator: ...
    @property
    def ami(self) -> AMIService: ...
    @property
    def board(self) -> LiveBoard: ...
    @property
    def writer(self) -> CaseWriter: ...
    @property
    def leases(self) -> Callable[[], dict[str, bool]]: ...


@dataclass
class Context:
    settings: Settings
    db: async_sessionmaker[AsyncSession]
    numbers: NumberAllocator  # the process's one allocator: requests take their numbers from it
    ami: AMIService  # agents' log-in, pause and the supervisors' listening in; it may be away
    board: LiveBoard
    writer: CaseWriter  # its counters and dead letters
    leases: Callable[[], dict[str, bool]]  # the background work this center holds (shell/centers.py)
    today: Today
    live: Broadcaster
    steps: Steps
    follow_key: bytes  # the site's key for follow links (web/citizens/follow.py), from the secrets file
    # The site's key for the public limits and the form's questions (web/throttle.py), from the same file.
    limits_key: bytes
    # Kept in the database (web/throttle.py), so every center counts the same tries: wrong passwords; wrong
    # pairs on the public follow page, per request number (its three digits cannot be guessed), and per
    # address with more free tries (a mobile carrier puts many citizens behind one address).
    throttle: Throttle = field(init=False)
    follow_numbers: Throttle = field(init=False)
    follow_addresses: Throttle = field(init=False)
    # (who, case, minute) of recording playbacks already audited: one entry per minute, whatever the ranges.
    played: set[tuple[str, str, int]] = field(default_factory=set)
    # The topic and agency suggested for a request's words, learned from the closed ones (web/suggestions.py).
    suggestions: Suggestions = field(default_factory=Suggestions)

    def __post_init__(self) -> None:
        self.throttle = Throttle(self.db, "sign_in", self.limits_key)
        self.follow_numbers = Throttle(self.db, "follow_number", self.limits_key)
        self.follow_addresses = Throttle(
            self.db, "follow_address", self.limits_key, free_tries=ADDRESS_FREE_TRIES
        )
        self.suggestions.tz = self.tz  # learned anew in the site's night

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.settings.site.timezone)


CONTEXT = web.AppKey("context", Context)
PRINCIPAL = web.RequestKey("principal", Principal)


def ctx(request: web.Request) -> Context:
    return request.app[CONTEXT]


def who(request: web.Request) -> Principal:
    return request[PRINCIPAL]


def render(name: str, request: web.Request, values: dict[str, Any], status: int = 200) -> web.Response:
    """A page with what every template uses: the words in the reader's language and who they are."""
    lang = language(request)
    return aiohttp_jinja2.render_template(
        name,
        request,
        {
            "t": lambda key: i18n.translate(lang, key),
            "lang": lang,
            "other_lang": "en" if lang == "vi" else "vi",
            "me": request.get(PRINCIPAL),
            "site": ctx(request).settings.site,
            "chart_js": HAVE_CHART_JS,
            "leaflet": HAVE_LEAFLET,
            "privacy_notice": ctx(request).settings.privacy.notice,
            **values,
        },
        status=status,
    )


def language(request: web.Request) -> str:
    chosen = request.query.get("lang") or request.cookies.get("hotline_lang", "")
    return chosen if chosen in i18n.LANGUAGES else ctx(request).settings.web.language


def own_origin(request: web.Request) -> str:
    """This site's origin as a browser on it names it (behind a proxy: the host and scheme it forwards)."""
    return f"{'https' if secure(request) else 'http'}://{request.host}"


def secure(request: web.Request) -> bool:
    mode = ctx(request).settings.web.secure_cookies
    if mode != "auto":
        return mode == "always"
    # A trusted proxy's word only (web/proxies.py); the middleware also makes it the request's scheme, but
    # the response's headers are prepared for the request as it came in.
    trusted = proxies.networks(tuple(ctx(request).settings.web.trusted_proxies))
    return request.secure or proxies.came_over_https(request.remote or "", request.headers, trusted)
