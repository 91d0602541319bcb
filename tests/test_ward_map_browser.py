"""The map of requests by ward in Chromium: the supervisor's map draws Thanh Hóa's wards from their centres
and areas with no tile server (no address outside this machine is asked for anything), the busy wards
coloured and the overdue ones ringed, with the same figures in the table; an agency's map counts only the
requests sent to it; the public answers page shows the map without signing in; with a tile server in the
settings, the map lays its tiles under the wards (the page's policy lets that server's images in)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from selenium import webdriver
from selenium.webdriver.common.by import By

from casework import workflow as wf
from hotline import settings as site_settings
from hotline.db.migrate import upgrade_async
from hotline.db.models import Role
from shell.service import Hotline
from tests.conftest import TEST_SETTINGS
from tests.helpers.browser import PASSWORD, browser, run, sign_in, until
from tests.helpers.files import PNG
from web import auth
from web.app import build_app

pytestmark = pytest.mark.browser
HAC_THANH, QUANG_PHU, HAM_RONG = "14797", "16522", "14758"


@dataclass
class MapSite:
    base: str
    hotline: Hotline
    tiles_asked: list[str]


async def _requests(hotline: Hotline) -> None:
    """Five in Hạc Thành (two with Quận 1, one of them overdue), two in Quảng Phú, one nowhere."""
    now = datetime.now(UTC)
    agent = wf.Actor("canbo101", Role.AGENT)
    site = hotline.settings
    places = site.places()
    async with hotline.db() as session, session.begin():
        for i, ward in enumerate([HAC_THANH] * 5 + [QUANG_PHU] * 2 + [""]):
            r = wf.open_request(
                f"7{i:07d}",
                agent,
                now - timedelta(hours=i),
                topic="violation",
                words="Đèn hỏng",
                places=places,
                ward=ward,
            )
            if i < 2:
                # The first three days ago (its acceptance overdue), the second now.
                wf.forward(site, r, agent, "quan_1", now - timedelta(days=3 if i == 0 else 0))
            session.add(r)


@pytest.fixture(params=["no tiles", "tiles"])
async def map_site(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[MapSite]:
    asked: list[str] = []

    async def tile(req: web.Request) -> web.Response:
        asked.append(req.path)
        return web.Response(body=PNG, content_type="image/png")

    tiles_app = web.Application()
    tiles_app.router.add_get("/{z}/{x}/{y}.png", tile)
    tiles = TestServer(tiles_app)
    await tiles.start_server()
    overrides: dict[str, Any] = {
        "database.url": f"sqlite+aiosqlite:///{tmp_path}/map.db",
        "state_dir": str(tmp_path / "state"),
        "recordings.dir": str(tmp_path / "recordings"),
    }
    if request.param == "tiles":
        tile_base = str(tiles.make_url("")).rstrip("/")
        overrides["map"] = {"tiles": tile_base + "/{z}/{x}/{y}.png", "attribution": "Bản đồ của tỉnh"}
    settings = site_settings.load(TEST_SETTINGS, overrides=overrides)
    await upgrade_async(settings.database_url)
    hotline = Hotline.build(settings)
    await auth.add_user(hotline.db, "giamsat", PASSWORD, "supervisor", "103")
    await auth.add_user(hotline.db, "quan1", PASSWORD, "agency", "", agency="quan_1")
    await _requests(hotline)
    runner = web.AppRunner(build_app(settings, hotline))
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield MapSite(f"http://127.0.0.1:{port}", hotline, asked)
    finally:
        await runner.cleanup()
        await tiles.close()
        await hotline.engine.dispose()


def _table(b: webdriver.Chrome) -> dict[str, list[str]]:
    rows = b.find_elements(By.CSS_SELECTOR, "#ward-table tbody tr")
    return {
        r.get_attribute("data-ward") or "": [c.text for c in r.find_elements(By.TAG_NAME, "td")] for r in rows
    }


def _classes(b: webdriver.Chrome, code: str) -> str:
    return b.find_element(By.CSS_SELECTOR, f"path.ward-{code}").get_attribute("class") or ""


async def _drawn(b: webdriver.Chrome) -> None:
    def drawn() -> bool:
        return b.find_element(By.ID, "ward-map").get_attribute("data-drawn") == "yes"

    try:
        await until(drawn, "the map drawn")
    except AssertionError:
        raise AssertionError(f"the map was not drawn: {b.get_log('browser')}") from None


async def test_the_map_of_requests_by_ward(map_site: MapSite, chromium: str) -> None:
    b = browser(chromium)
    try:
        await run(sign_in, b, map_site.base, "giamsat", "/requests/map")
        await _drawn(b)
        assert await run(lambda: len(b.find_elements(By.CSS_SELECTOR, "path.ward"))) == 166
        assert "ward-overdue" in await run(_classes, b, HAC_THANH)
        assert "ward-overdue" not in await run(_classes, b, QUANG_PHU)
        table = await run(_table, b)
        # Received, open, overdue, answered, cannot be done.
        assert table[HAC_THANH][1:] == ["5", "5", "1", "0", "0"]
        assert table[QUANG_PHU][1:] == ["2", "2", "0", "0", "0"]
        assert HAM_RONG not in table
        tiles = await run(lambda: b.find_elements(By.CSS_SELECTOR, "img.leaflet-tile-loaded"))
        if map_site.hotline.settings.map.tiles:
            assert tiles and map_site.tiles_asked, "the site's tiles under the wards"
            assert "Bản đồ của tỉnh" in await run(
                lambda: b.find_element(By.CSS_SELECTOR, ".leaflet-control-attribution").text
            )
        else:
            assert not tiles and not map_site.tiles_asked
        # An agency's own: the two sent to Quận 1.
        b.delete_all_cookies()
        await run(sign_in, b, map_site.base, "quan1", "/requests/map")
        await _drawn(b)
        assert (await run(_table, b)) == {HAC_THANH: ["Phường Hạc Thành", "2", "2", "1", "0", "0"]}
        # The public answers page: the same map for everyone.
        b.delete_all_cookies()
        await run(b.get, f"{map_site.base}/answers")
        await _drawn(b)
        assert (await run(_table, b))[HAC_THANH][1] == "5"
        logged = await run(b.get_log, "browser")
        errors = [e for e in logged if e["level"] == "SEVERE" and "favicon.ico" not in e["message"]]
        assert not errors, errors
    finally:
        b.quit()
