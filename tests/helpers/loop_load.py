"""A year of calls on one event loop with the web app and the FastAGI server, the load of a year's report
and password guessing from another process, and the IVR's command latency."""

from __future__ import annotations

import asyncio
import gc
import random
import sqlite3
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

from aiohttp.test_utils import TestServer

from agi_scripts.ivr_app import build_server
from hotline import settings as site_settings
from hotline.db.migrate import upgrade_async
from shell.service import Hotline, freeze_startup_objects
from tests.agi_peer import KeyScript, environment, free_port, run_session
from tests.conftest import TEST_SETTINGS
from web import auth
from web.app import build_app
from web.context import CONTEXT
from web.throttle import Throttle

YEAR_OF_CASES = 300_000


LOAD = """
import asyncio, sys, time
import aiohttp

base, token, seconds = sys.argv[1], sys.argv[2], float(sys.argv[3])

async def guesser(session, stop):
    n = 0
    async with session.get(base + "/login") as r:
        form = await r.text()
    csrf = form.split('id="login"', 1)[1].split('name="csrf" value="', 1)[1].split('"', 1)[0]
    while time.monotonic() < stop:
        guess = {"username": "sup", "password": f"wrong guess {n}", "csrf": csrf}
        async with session.post(base + "/login", data=guess) as r:
            assert r.status == 401, r.status
        n += 1
    return n

async def reporter(session, stop):
    n = 0
    while time.monotonic() < stop:
        async with session.get(base + "/api/v1/reports?from=2025-11-23&to=2026-11-22",
                               headers={"Authorization": "Bearer " + token}) as r:
            body = await r.json()
            assert r.status == 200 and body["calls"] > 290000, (r.status, body.get("calls"))
        n += 1
    return n

async def main():
    stop = time.monotonic() + seconds
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as session:
        counts = await asyncio.gather(reporter(session, stop), *(guesser(session, stop) for _ in range(16)))
    print("reports", counts[0], "guesses", sum(counts[1:]), flush=True)

asyncio.run(main())
"""


def fill_a_year(path: Path) -> None:
    """300,000 ended cases over the last year, straight into the file (as a year of service leaves it)."""
    rng = random.Random(1022)
    now = datetime.now(UTC)
    rows = []
    for i in range(YEAR_OF_CASES):
        started = now - timedelta(seconds=rng.randrange(60, 364 * 86400))
        answered = rng.random() < 0.7
        fmt = "%Y-%m-%d %H:%M:%S.%f"
        rows.append(
            (
                f"y{i}",
                f"year.{i}",
                "0912345678",
                started.strftime(fmt),
                (started + timedelta(seconds=20)).strftime(fmt),
                (started + timedelta(seconds=200)).strftime(fmt),
                rng.uniform(0, 60),
                rng.uniform(10, 300) if answered else None,
                "answered" if answered else "abandoned_queue",
                rng.choice(["health", "violation", "operator", "welfare.support"]),
                rng.choice(["101", "102", "103"]) if answered else "",
            )
        )
    db = sqlite3.connect(path)
    with db:
        db.executemany(
            "INSERT INTO cases (number, linkedid, caller, caller_name, did, started_at, queued_at, ended_at,"
            " ivr_path, ivr_node, ivr_result, wait_seconds, talk_seconds, outcome, topic, queue, agent,"
            " agent_name, recording, voicemail, hangup_cause, category, notes, status)"
            " VALUES (?, ?, ?, '', '1022', ?, ?, ?, '', '', '', ?, ?, ?, ?, '', ?,"
            " '', '', '', '', '', '', 'new')",
            rows,
        )
    db.close()


@asynccontextmanager
async def year_of_calls(folder: Path) -> AsyncIterator[tuple[str, int, str]]:
    """The web app and the FastAGI server on the running loop, over a year of cases: the web app's base URL,
    the FastAGI port and a supervisor's API token."""
    url = f"sqlite+aiosqlite:///{folder}/year.db"
    settings = site_settings.load(
        TEST_SETTINGS, overrides={"database.url": url, "state_dir": str(folder / "state")}
    )
    await upgrade_async(url)
    await asyncio.to_thread(fill_a_year, folder / "year.db")
    hotline = Hotline.build(settings)  # never connected: the app reads cases, signs in
    await auth.add_user(hotline.db, "sup", "mật-khẩu-đủ-dài", "supervisor", "103")
    token = await auth.add_token(hotline.db, "stall-test", "supervisor")
    app = build_app(settings, hotline)
    # Every guess is checked here (no growing delays, no lockout): the hashing is the load being measured.
    c = app[CONTEXT]
    c.throttle = Throttle(c.db, "sign_in", c.limits_key, free_tries=10**9)
    auth.LOCK_AFTER, lock_after = 10**9, auth.LOCK_AFTER
    web_server = TestServer(app, port=free_port())
    await web_server.start_server()
    agi = build_server(settings)
    agi_port = free_port()
    await agi.start("127.0.0.1", agi_port)
    # As `hotline serve` does once started: what lives as long as the process is not walked again by the
    # garbage collector (here that is also everything the test session built before this test).
    freeze_startup_objects()
    try:
        yield str(web_server.make_url("")).rstrip("/"), agi_port, token
    finally:
        auth.LOCK_AFTER = lock_after
        gc.unfreeze()
        await agi.close()
        await web_server.close()
        await hotline.engine.dispose()


async def start_load(base: str, token: str, seconds: float) -> asyncio.subprocess.Process:
    """One client asking for the one-year report over and over and 16 guessing passwords, from another
    process. They stand for browsers on other machines: at the lowest priority, their own CPU is not taken
    from the hotline's process."""
    return await asyncio.create_subprocess_exec(
        "nice", "-n", "19", sys.executable, "-c", LOAD, base, token, str(seconds), stdout=subprocess.PIPE
    )


async def ivr_latencies(port: int, calls: int, tag: str) -> list[float]:
    """Callers who press 2 (suggestions), hear their case number and go to the queue; several at once."""

    async def one(i: int) -> list[float]:
        env = environment(linkedid=f"{tag}.{i}")
        result = await run_session("127.0.0.1", port, env, KeyScript(["2", None]), media_seconds=0.01)
        assert any(c.startswith('SET VARIABLE HOTLINE_DEST "queue-suggestion"') for c in result.commands)
        return result.latencies[1:]  # the first waits for the environment to be read

    latencies: list[float] = []
    for start in range(0, calls, 4):
        for found in await asyncio.gather(*(one(i) for i in range(start, min(start + 4, calls)))):
            latencies += found
    return latencies
