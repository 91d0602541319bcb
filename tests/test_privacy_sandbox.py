"""Personal data on the sandbox: files readable by their owner and group alone, and erasure: a real call
from a number, answered and recorded, then `hotline privacy erase`
as a site runs it (another process, asking Asterisk over AMI to rotate its logs first). Afterwards the
number is in no case, timeline or audit entry, no recording is left, and no log Asterisk wrote holds it."""

from __future__ import annotations

import asyncio
import re
import stat
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import make_url, text

from hotline.db.engine import make_engine, sessions
from hotline.settings import Settings
from shell.callsim import CallRequest, place_call
from shell.sandbox.runner import Sandbox
from shell.service import Hotline
from tests.conftest import ROOT, TEST_SETTINGS
from tests.helpers.cases import final_case
from tests.services import in_process

pytestmark = pytest.mark.asterisk
PERSON = "0977123456"


@pytest.fixture(scope="module")
async def hotline(site: Settings, sandbox: Sandbox) -> AsyncIterator[Hotline]:
    async with in_process(site) as bridge:
        yield bridge


async def test_an_erased_callers_number_is_nowhere_after_a_real_call(
    site: Settings, hotline: Hotline
) -> None:
    result = await place_call(site, CallRequest("1022", keys="0", caller=PERSON, hangup_after=9))
    case = await final_case(site, result.linkedid)
    assert case.caller == PERSON and case.recording, "the call should reach an agent and be recorded"
    recording = case.recording
    logs = site.asterisk_log_path
    # What holds personal data is for its owner and group alone: folders 0750, files 0640.
    modes = {
        "recording": Path(recording),
        "its day folder": Path(recording).parent,
        "recordings": site.recordings_path,
        "queue_log": site.queue_log_path,
        "state": site.state_path,
        "database": Path(str(make_url(site.database_url).database)),
    }
    for what, path in modes.items():
        assert stat.S_IMODE(path.stat().st_mode) & 0o027 == 0, (what, oct(path.stat().st_mode))
    assert any(PERSON in p.read_text("utf-8", "replace") for p in logs.iterdir() if p.is_file())

    erase = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "shell.cli",
        "--settings",
        str(TEST_SETTINGS),
        "privacy",
        "erase",
        "--phone",
        "+84977123456",  # the same person, written as a mobile from abroad would be
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    output = (await erase.communicate())[0].decode()
    assert erase.returncode == 0, output
    assert re.search(r"erased 0977\*\*\*456: [1-9]\d* case\(s\) and", output), output
    assert PERSON not in output

    engine = make_engine(site.database_url)
    try:
        async with sessions(engine)() as session:
            for table in ("cases", "case_events", "audit_log", "dead_letters"):
                rows = (await session.execute(text(f"SELECT * FROM {table}"))).all()
                assert not any(PERSON[1:] in str(tuple(row)) for row in rows), table
    finally:
        await engine.dispose()
    assert not Path(recording).exists()
    # What Asterisk wrote until the erasure was rotated out of its live files, then cleaned.
    for path in (p for p in logs.iterdir() if p.is_file()):
        assert PERSON[1:] not in path.read_text("utf-8", "replace"), path.name
    # And the bridge still follows Asterisk's (new) queue_log: the next call is complete as ever.
    after = await place_call(site, CallRequest("1022", keys="0", hangup_after=6))
    assert (await final_case(site, after.linkedid)).outcome == "answered"
