"""Escalation e-mail through a real SMTP server (Debian's aiosmtpd, delivering into a Maildir): an overdue
request is mailed to the supervisors and to the agency it is with; a relay that is down loses the mail,
never the escalation."""

from __future__ import annotations

import mailbox
import subprocess
from collections.abc import Iterator
from email import message_from_bytes
from email.header import decode_header, make_header
from pathlib import Path

import pytest

from casework import workflow as wf
from hotline import settings as site_settings
from hotline.db.engine import make_engine, sessions
from hotline.db.migrate import upgrade_async
from hotline.settings import Settings
from shell import housekeeping
from tests.agi_peer import free_port
from tests.conftest import TEST_SETTINGS
from tests.helpers.requests import AGENT, at, new_request
from tests.processes import wait_for_port


@pytest.fixture
def smtp(tmp_path: Path) -> Iterator[tuple[int, Path]]:
    """A mail server of the test's own: SMTP on a free port, each message into a Maildir."""
    port, maildir = free_port(), tmp_path / "Maildir"
    server = subprocess.Popen(
        [
            "/usr/bin/python3",
            "-m",
            "aiosmtpd",
            "-n",
            "-l",
            f"127.0.0.1:{port}",
            "-c",
            "aiosmtpd.handlers.Mailbox",
            str(maildir),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    wait_for_port(port, server, "aiosmtpd")
    try:
        yield port, maildir
    finally:
        server.terminate()
        server.wait(10)


def site_with_mail(tmp_path: Path, port: int) -> Settings:
    return site_settings.load(
        TEST_SETTINGS,
        overrides={
            "database.url": f"sqlite+aiosqlite:///{tmp_path}/requests.db",
            "agencies": [{"name": "so_y_te", "label": "Sở Y tế", "email": "vanthu@soyte.example.vn"}],
            "mail": {
                "host": "127.0.0.1",
                "port": port,
                "sender": "Tổng đài 1022 <tongdai@tinh.example.vn>",
                "supervisors": ["giamsat@tinh.example.vn"],
            },
        },
    )


async def overdue_request(site: Settings) -> list[str]:
    await upgrade_async(site.database_url)
    engine = make_engine(site.database_url)
    db = sessions(engine)
    try:
        async with db() as session, session.begin():
            request = new_request()
            session.add(request)
            wf.forward(site, request, AGENT, "so_y_te", at(23, 9))
        return [r.number for r in await housekeeping.escalate_overdue(site, db, at(24, 10))]
    finally:
        await engine.dispose()


async def test_an_overdue_request_is_mailed_to_the_supervisors_and_the_agency(
    smtp: tuple[int, Path], tmp_path: Path
) -> None:
    port, maildir = smtp
    assert await overdue_request(site_with_mail(tmp_path, port)) == ["10000016"]
    box = mailbox.Maildir(maildir, create=False)
    (message,) = [message_from_bytes(box.get_bytes(key)) for key in box.iterkeys()]
    assert set(message["To"].split(", ")) == {"giamsat@tinh.example.vn", "vanthu@soyte.example.vn"}
    subject = str(make_header(decode_header(message["Subject"])))
    assert "10000016" in subject and "Quá hạn tiếp nhận" in subject
    body = message.get_payload(decode=True).decode()
    assert "Sở Y tế" in body and "09:30 24/11/2026" in body
    assert message["Date"] and message["Message-ID"].endswith("@tinh.example.vn>")  # RFC 5322's own


async def test_a_relay_that_is_down_loses_the_mail_not_the_escalation(tmp_path: Path) -> None:
    site = site_with_mail(tmp_path, free_port())  # nobody listens there
    assert await overdue_request(site) == ["10000016"]
