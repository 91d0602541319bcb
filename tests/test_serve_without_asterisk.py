"""`hotline serve` with no Asterisk to reach: nothing on the request side needs it. The process starts and
says it waits for AMI; the public form takes a report, the citizen's follow link opens it, a Messenger
webhook verifies, and /metrics and the wallboard say Asterisk is away. Stopped with SIGTERM, it ends
cleanly."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path

import aiohttp

from tests.helpers.portal import answered
from tests.services import start_hotline
from tests.sites import without_asterisk

VERIFY = "verify-without-asterisk"


def site_without_asterisk(folder: Path) -> tuple[Path, int]:
    """The test site in `folder`, its AMI port one nothing listens on; the settings file and the web port."""
    text, web_port = without_asterisk(folder, folder / "state")
    text += '\n[facebook]\npage_id = "page1"\n'
    (folder / "state").mkdir()
    (folder / "state" / "secrets.toml").write_text(
        f'"facebook.verify_token" = "{VERIFY}"\n"facebook.app_secret" = "s"\n"facebook.page_token" = "t"\n',
        encoding="utf-8",
    )
    path = folder / "hotline.toml"
    path.write_text(text, encoding="utf-8")
    return path, web_port


async def test_the_request_side_serves_while_asterisk_is_away(tmp_path: Path) -> None:
    settings, port = site_without_asterisk(tmp_path)
    env = os.environ | {"HOTLINE_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/hotline.db"}
    proc = await start_hotline("serve", ready=b"web app on http://", settings=settings, env=env, timeout=90)
    base = f"http://127.0.0.1:{port}"
    try:
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
            page = await (await http.get(f"{base}/report")).text()
            form = {
                "topic": "violation",
                "words": "Lấn chiếm vỉa hè ở số 3 Hàng Bạc",
                "district": "Quận 1",
                "phone": "0912345678",
                "notify_by": "sms",
                "consent": "yes",
                **answered(page),
            }
            reply = await http.post(f"{base}/report", data=form)
            assert reply.status == 201, await reply.text()
            done = await reply.text()
            link = done.split('id="follow-link" href="', 1)[1].split('"', 1)[0]
            followed = await http.get(link if link.startswith("http") else base + link)
            assert followed.status == 200 and 'data-status="received"' in await followed.text()
            verified = await http.get(
                f"{base}/webhooks/facebook",
                params={"hub.mode": "subscribe", "hub.verify_token": VERIFY, "hub.challenge": "7731"},
            )
            assert verified.status == 200 and await verified.text() == "7731"
            # An admin's token for /metrics and the board, made by the CLI against the same site.
            made = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "shell.cli",
                "--settings",
                str(settings),
                "token",
                "add",
                "scraper",
                "--role",
                "admin",
                env=env,
                stdout=asyncio.subprocess.PIPE,
            )
            out, _ = await made.communicate()
            assert made.returncode == 0, out
            bearer = {"Authorization": "Bearer " + out.decode().split()[-1]}
            metrics = await (await http.get(f"{base}/metrics", headers=bearer)).text()
            assert "hotline_ami_connected 0.0" in metrics
            async with http.ws_connect(f"{base}/ws/live", headers=bearer) as ws:
                board = json.loads((await ws.receive(timeout=10)).data)
            assert board["asterisk"] is False
    finally:
        proc.terminate()
        assert await asyncio.wait_for(proc.wait(), 30) == 0
