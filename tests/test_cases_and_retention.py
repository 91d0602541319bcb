"""Case export on a real SQLite file."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from ami_bridge.calls import Call
from ami_bridge.case_writer import CaseWriter
from hotline import cases
from hotline import settings as site_settings
from hotline.db.engine import make_engine, sessions
from hotline.db.migrate import upgrade_async
from hotline.db.numbers import NumberAllocator
from shell.service import with_closed_call_hooks
from tests.conftest import TEST_SETTINGS


async def test_written_cases_export_as_csv_and_json(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path}/cases.db"
    await upgrade_async(url)
    engine = make_engine(url)
    db = sessions(engine)
    writer = with_closed_call_hooks(CaseWriter(db, NumberAllocator(db), settle_seconds=0))
    call = Call(
        linkedid="1.1",
        started_at=datetime(2026, 11, 22, 1, 0, tzinfo=UTC),
        caller="0912345678",
        did="1022",
        topic="health.testing",
        queue="health",
    )
    call.queued_at = datetime(2026, 11, 22, 1, 0, 40, tzinfo=UTC)
    call.mark("entered", did="1022")
    call.finish(datetime(2026, 11, 22, 1, 1, tzinfo=UTC), "16 Normal Clearing")
    await writer.write([call])
    await writer.write([call])  # written twice: still one case
    await engine.dispose()
    site = site_settings.load(TEST_SETTINGS, overrides={"database.url": url})
    tz = ZoneInfo(site.site.timezone)
    day = date(2026, 11, 22)
    found = await cases.fetch(site, cases.search(tz, day, day, newest_first=False))
    assert len(found) == 1
    assert not await cases.fetch(site, cases.search(tz, day + timedelta(days=1), day + timedelta(days=1)))
    rows = list(csv.DictReader(io.StringIO(cases.to_csv(found))))
    assert tuple(rows[0]) == cases.COLUMNS
    assert rows[0]["outcome"] == "abandoned_queue" and rows[0]["wait_seconds"] == "20.0"
    assert json.loads(cases.to_json(found))[0]["topic"] == "health.testing"
    shown = await cases.fetch(site, cases.by_key(rows[0]["number"]))
    assert "entered" in cases.detail(shown[0], tz)
