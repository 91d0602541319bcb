"""Case export and recording retention, on a real SQLite file and real folders."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, date, datetime
from pathlib import Path

from ami_bridge.calls import Call
from ami_bridge.case_writer import CaseWriter
from hotline import case_views, retention
from hotline import settings as site_settings
from hotline.db.engine import make_engine, sessions
from hotline.db.migrate import upgrade_async
from hotline.db.numbers import NumberAllocator
from tests.conftest import TEST_SETTINGS


async def test_written_cases_export_as_csv_and_json(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path}/cases.db"
    await upgrade_async(url)
    engine = make_engine(url)
    db = sessions(engine)
    writer = CaseWriter(db, NumberAllocator(db), settle_seconds=0)
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
    cases = await case_views.between(site, "2026-11-22", "2026-11-22")
    assert len(cases) == 1
    rows = list(csv.DictReader(io.StringIO(case_views.export(cases, "csv"))))
    assert rows[0]["outcome"] == "abandoned_queue" and rows[0]["wait_seconds"] == "20.0"
    assert json.loads(case_views.export(cases, "json"))[0]["topic"] == "health.testing"
    shown = await case_views.one(site, rows[0]["number"])
    assert shown is not None
    assert "entered" in case_views.detail(shown, "Asia/Ho_Chi_Minh")


def test_prune_keeps_recent_days_and_other_files(tmp_path: Path) -> None:
    for day in ("2025/10/01", "2026/11/20", "2026/11/21"):
        (tmp_path / day).mkdir(parents=True)
        (tmp_path / day / "1.1.wav").write_bytes(b"RIFF")
    (tmp_path / "README.md").write_text("keep")
    removed = retention.prune(tmp_path, retention_days=30, today=date(2026, 11, 22), dry_run=True)
    assert removed == [tmp_path / "2025/10/01/1.1.wav"] and (tmp_path / "2025/10/01/1.1.wav").exists()
    retention.prune(tmp_path, retention_days=30, today=date(2026, 11, 22))
    assert not (tmp_path / "2025").exists()
    assert (tmp_path / "2026/11/20/1.1.wav").exists() and (tmp_path / "README.md").exists()
