"""Erasure by any identifier, on a running app: a citizen known only by e-mail (the web form, from behind
the site's proxy, with a photo whose EXIF gives the place), one known only by a Zalo id (who shared their
position) and one known only by a Facebook id are each erased with `hotline privacy erase`. Afterwards no
table holds their address, name, identifier, position or network address, their files are gone and their
follow link opens nothing; another citizen's request is untouched."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from aiohttp import FormData
from sqlalchemy import text

from tests.conftest import TEST_SETTINGS
from tests.helpers.chats import Platforms, facebook_event, platforms, zalo_event
from tests.helpers.files import jpeg_with_gps
from tests.helpers.portal import answered

__all__ = ["platforms"]  # the fixture

ROOT = Path(__file__).resolve().parent.parent
HOA = {"email": "hoa.tran@example.vn", "name": "Trần Thị Hoa", "address": "45 Hẻm Bùi Viện"}
HOA_NETWORK = "203.0.113.7"
SAIGON = "10.7769"  # the photo's EXIF latitude
ZALO_USER, ZALO_LATITUDE = "8112233445566778899", "21.0285"
FACEBOOK_USER = "6633445566778899"


async def _report(p: Platforms, network: str, **fields: str) -> str:
    """The web form sent from `network` through the trusted proxy; the follow link it gives."""
    headers = {"X-Forwarded-For": network}
    page = await (await p.client.get("/report", headers=headers)).text()
    values = {
        "topic": "violation",
        "words": "Lấn chiếm vỉa hè trước nhà",
        "district": "Quận 1",
        "consent": "yes",
        **answered(page),
        **fields,
    }
    form = FormData()
    for name, value in values.items():
        form.add_field(name, value)
    form.add_field("files", jpeg_with_gps(), filename="IMG_0001.jpg", content_type="image/jpeg")
    reply = await p.client.post("/report", data=form, headers=headers)
    assert reply.status == 201, await reply.text()
    return (await reply.text()).split('id="follow-link" href="', 1)[1].split('"', 1)[0]


async def _dump(p: Platforms) -> str:
    """Every row of every table as text, JSON read back (SQLite keeps it with non-ASCII escaped)."""
    cells: list[str] = []
    async with p.hotline.db() as session:
        names = (await session.execute(text("SELECT name FROM sqlite_master WHERE type='table'"))).scalars()
        for table in list(names):
            for row in (await session.execute(text(f'SELECT * FROM "{table}"'))).all():
                for value in row:
                    cells.append(_readable(value))
    return "\n".join(cells)


def _readable(value: Any) -> str:
    if isinstance(value, str) and value[:1] in "[{":
        try:
            return json.dumps(json.loads(value), ensure_ascii=False)
        except ValueError:
            pass
    return str(value)


def _erase(p: Platforms, *args: str) -> str:
    """`hotline privacy erase` on this test's site (its database, state and files)."""
    site = p.settings.state_path.parent / "site.toml"
    text = TEST_SETTINGS.read_text(encoding="utf-8")
    text = text.replace('state_dir = "../var/test"', f'state_dir = "{p.settings.state_path}"')
    site.write_text(text.replace("../var/test", str(p.settings.state_path.parent / "site")), encoding="utf-8")
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "shell.cli",
            "--settings",
            str(site),
            "privacy",
            "erase",
            *args,
            "--asterisk-stopped",
        ],
        cwd=ROOT,
        env=os.environ | {"HOTLINE_DATABASE_URL": p.settings.database_url},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


async def test_people_known_by_email_zalo_or_facebook_are_erased_everywhere(platforms: Platforms) -> None:
    p = platforms
    p.settings.web.trusted_proxies.append("127.0.0.1")
    link = await _report(p, HOA_NETWORK, notify_by="email", share_place="yes", **HOA)
    other_link = await _report(
        p, "198.51.100.9", notify_by="sms", phone="0987654321", name="Lê Văn Bình", address="9 Pasteur"
    )
    assert (await p.client.get(link, headers={"X-Forwarded-For": HOA_NETWORK})).status == 200
    body, signature = zalo_event(
        "user_send_location",
        ZALO_USER,
        {
            "msg_id": "zm-erase-1",
            "text": "Ngập nước ở ngõ 5",
            "attachments": [
                {
                    "type": "location",
                    "payload": {"coordinates": {"latitude": ZALO_LATITUDE, "longitude": "105.8542"}},
                }
            ],
        },
    )
    reply = await p.client.post("/webhooks/zalo", data=body, headers={"X-ZEvent-Signature": signature})
    assert (await reply.json()) == {"taken": ["opened"]}
    body, signature = facebook_event(FACEBOOK_USER, {"mid": "m_erase_1", "text": "Đèn đường hỏng"})
    reply = await p.client.post("/webhooks/facebook", data=body, headers={"X-Hub-Signature-256": signature})
    assert (await reply.json()) == {"taken": ["opened"]}
    before = await _dump(p)
    for trace in (*HOA.values(), HOA_NETWORK, SAIGON, ZALO_USER, ZALO_LATITUDE, FACEBOOK_USER):
        assert trace in before, trace  # each is there to be erased
    files = sorted(p.settings.request_files_path.iterdir())

    said = _erase(p, "--email", HOA["email"].upper())
    assert "h***@example.vn" in said and "1 request(s)" in said
    _erase(p, "--zalo", ZALO_USER)
    _erase(p, "--facebook", FACEBOOK_USER)

    after = await _dump(p)
    for trace in (*HOA.values(), HOA_NETWORK, SAIGON, ZALO_USER, ZALO_LATITUDE, FACEBOOK_USER):
        assert trace not in after, trace
    # The other citizen's request, files and network address stay as they were.
    for kept in ("0987654321", "Lê Văn Bình", "9 Pasteur", "198.51.100.9"):
        assert kept in after, kept
    assert len(sorted(p.settings.request_files_path.iterdir())) == len(files) - 1
    # The erased request's follow link opens nothing; the other one's still does.
    assert (await p.client.get(link)).status == 404
    assert (await p.client.get(other_link)).status == 200
    assert "Ngập nước ở ngõ 5" in after  # the matter itself stays counted, without the person

    # The other citizen, by their phone written another way: their name, address and network address go.
    _erase(p, "--phone", "+84987654321")
    after = await _dump(p)
    for trace in ("987654321", "Lê Văn Bình", "9 Pasteur", "198.51.100.9"):
        assert trace not in after, trace
    assert (await p.client.get(other_link)).status == 404
    assert not list(p.settings.request_files_path.iterdir())
