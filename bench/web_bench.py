"""Wallboard clients while the sandbox carries calls: `hotline serve` (FastAGI server, bridge and web app in
one process) runs the same call load twice, first with no screen open (the baseline), then with N
WebSocket clients signed in as supervisors. Reports how late each client saw each change (from the AMI
event reaching the bridge to the client receiving the board) and the process's CPU in both runs."""

from __future__ import annotations

import asyncio
import json
import os
import random
import tempfile
import time

from aiohttp import ClientSession, WSMsgType

from bench.rig import SETTINGS
from bench.rig import cpu_seconds as _cpu
from tests.services import start_hotline


async def _client(http: ClientSession, url: str, token: str, lags: list[float], stop: asyncio.Event) -> None:
    async with http.ws_connect(url, headers={"Authorization": f"Bearer {token}"}, heartbeat=30) as ws:
        while not stop.is_set():
            try:
                msg = await asyncio.wait_for(ws.receive(), 1.0)
            except TimeoutError:
                continue
            if msg.type != WSMsgType.TEXT:
                break
            board = json.loads(msg.data)
            if board.get("changed"):
                lags.append(time.time() - board["changed_at"])


async def _calls(site: object, rate: float, seconds: float) -> int:
    from shell.callsim import CallRequest, connect_ami, place_call

    ami = await connect_ami(site)  # type: ignore[arg-type]
    rng = random.Random(7)
    tasks = []
    started = time.monotonic()
    try:
        for i in range(int(rate * seconds)):
            keys, hangup = rng.choice([("0", 6.0), ("0", 6.0), ("", 3.0), ("2", 4.0)])
            request = CallRequest("1022", keys=keys, first_wait=1.0, hangup_after=hangup, caller=f"08{i:08d}")
            tasks.append(asyncio.create_task(place_call(site, request, ami=ami, timeout=120)))  # type: ignore[arg-type]
            await asyncio.sleep(max(0.0, started + (i + 1) / rate - time.monotonic()))
        results = await asyncio.gather(*tasks, return_exceptions=True)
    finally:
        await ami.close()
    return sum(1 for r in results if not isinstance(r, BaseException))


async def run(clients: int = 200, rate: float = 5.0, seconds: float = 30.0) -> str:
    from hotline import settings as site_settings
    from hotline.db.engine import make_engine, sessions
    from hotline.db.migrate import upgrade_async
    from shell.sandbox.runner import Sandbox, SandboxState
    from web import auth

    rows = []
    with tempfile.TemporaryDirectory(prefix="hotline-web-") as tmp:
        db = f"sqlite+aiosqlite:///{tmp}/web.db"
        env = {**os.environ, "HOTLINE_DATABASE_URL": db}
        site = site_settings.load(SETTINGS, overrides={"database.url": db})
        await upgrade_async(db)
        engine = make_engine(db)
        token = await auth.add_token(sessions(engine), "wallboard-bench", "supervisor")
        await engine.dispose()
        box = Sandbox(site, log=lambda line: None)
        was_running = bool(box.status().get("running"))
        box.up()
        state = SandboxState.load(box.state_file)
        assert state is not None
        serve = await start_hotline("serve", ready=b"web app on", env=env)
        url = f"http://{site.web.host}:{site.web.port}/ws/live"
        try:
            for n in (0, clients):
                lags: list[float] = []
                stop = asyncio.Event()
                async with ClientSession() as http:
                    screens = [asyncio.create_task(_client(http, url, token, lags, stop)) for _ in range(n)]
                    await asyncio.sleep(2 if n else 0)  # every screen connected and given its first board
                    before = (_cpu(serve.pid), _cpu(state.asterisk_pid))
                    placed = await _calls(site, rate, seconds)
                    await asyncio.sleep(2)
                    used = (_cpu(serve.pid) - before[0], _cpu(state.asterisk_pid) - before[1])
                    stop.set()
                    await asyncio.gather(*screens, return_exceptions=True)
                lags.sort()
                p50 = lags[len(lags) // 2] if lags else float("nan")
                p99 = lags[min(len(lags) - 1, int(len(lags) * 0.99))] if lags else float("nan")
                rows.append((n, placed, len(lags), p50, p99, used[0], used[1]))
        finally:
            serve.send_signal(2)
            await serve.wait()
            if not was_running:
                box.down()
    base = rows[0]
    lines = [
        f"Wallboard: {rate:g} new calls/s for {seconds:g} s on the sandbox; `hotline serve` (FastAGI server, bridge, "
        "web app) in one process; clients are WebSocket wallboards signed in with a supervisor token",
        "",
        "| screens | calls | boards received | update latency p50 / p99 | serve CPU | Asterisk CPU | serve CPU vs. no screens |",
        "| ---: | ---: | ---: | --- | ---: | ---: | ---: |",
    ]
    for n, placed, got, p50, p99, cpu, ast in rows:
        latency = "-" if not got else f"{p50 * 1000:.0f} ms / {p99 * 1000:.0f} ms"
        lines.append(
            f"| {n} | {placed} | {got} | {latency} | {cpu:.1f} s ({cpu / ast * 100:.0f} % of Asterisk's) | "
            f"{ast:.1f} s | {cpu / base[5]:.2f}x |"
        )
    lines += ["", "Target: p99 update latency at most 1 s with 200 screens."]
    return "\n".join(lines)


if __name__ == "__main__":
    print(asyncio.run(run()))
