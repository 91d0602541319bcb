"""Today's counters (wallboard, agent desk, /metrics) start from zero at the site's midnight, with the
cases written by the real case writer on a real SQLite file."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from ami_bridge.calls import Call
from ami_bridge.case_writer import CaseWriter
from hotline.db.engine import make_engine, sessions
from hotline.db.migrate import upgrade_async
from hotline.db.numbers import NumberAllocator
from shell.service import with_closed_call_hooks
from web.stats import Today

SITE = ZoneInfo("Asia/Ho_Chi_Minh")
# 23:59:30 in Vietnam on 22 November.
LATE = datetime(2026, 11, 22, 23, 59, 30, tzinfo=SITE)


def answered_call(linkedid: str, started: datetime) -> Call:
    call = Call(linkedid=linkedid, started_at=started, caller="0912345678", did="1022", queue="health")
    call.queued_at = started + timedelta(seconds=5)
    call.answered_at = started + timedelta(seconds=10)
    call.wait_seconds = 5.0
    call.mark("entered", started)
    call.finish(started + timedelta(seconds=20))
    return call


async def test_counters_start_from_zero_past_the_sites_midnight(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path}/cases.db"
    await upgrade_async(url)
    engine = make_engine(url)
    db = sessions(engine)
    now = [LATE]
    today = Today(SITE, 20, clock=lambda: now[0].astimezone(UTC))
    writer = with_closed_call_hooks(CaseWriter(db, NumberAllocator(db), settle_seconds=0))
    writer.subscribe(today.add)
    try:
        await writer.write([answered_call("day1.a", LATE - timedelta(hours=2))])
        await today.load(db)  # the process starts late in the evening: the day's cases are counted
        assert today.view()["health"]["answered"] == 1
        await writer.write([answered_call("day1.b", LATE - timedelta(minutes=1))])
        assert today.view()["health"]["answered"] == 2

        now[0] = LATE + timedelta(minutes=1)  # 00:00:30 on 23 November
        assert today.view() == {}, "yesterday's calls are still counted after midnight"
        # A call of yesterday that ends after midnight counts for yesterday, not for today.
        await writer.write([answered_call("day1.c", LATE)])
        assert today.view() == {}
        await writer.write([answered_call("day2.a", LATE + timedelta(seconds=40))])
        assert today.view()["health"] == {
            "offered": 1,
            "answered": 1,
            "abandoned": 0,
            "service_level": 100.0,
            "average_answer": 5.0,
            "average_handle": 10.0,
            "ratings": 0,
            "average_rating": None,
        }
        # A restart on the new day loads the new day only.
        fresh = Today(SITE, 20, clock=lambda: now[0].astimezone(UTC))
        await fresh.load(db)
        assert fresh.view()["health"]["answered"] == 1
    finally:
        await engine.dispose()
