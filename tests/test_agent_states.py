"""What each agent did, from queue_log: log-ins, pauses with their reasons and calls become stretches cut to
the period asked for (a pause begun before it counts from its start); a day is found in a long file by
bisection, not by reading it whole; broken lines are skipped; supervisors get the stretches as CSV and
today's seconds per agent (the wallboard's), and an agent gets neither."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from ami_bridge import agent_states
from tests.helpers.requests import as_user
from tests.web_site import Site, site

__all__ = ["site"]  # the fixture
AN, BINH = "Nguyễn Văn An", "Trần Thị Bình"


def _log(day: datetime) -> str:
    t = day.timestamp()
    return "".join(
        f"{int(t + s)}|{callid}|{queue}|{agent}|{event}{data}\n"
        for s, callid, queue, agent, event, data in [
            (-3600, "NONE", "q-operator", BINH, "PAUSE", "|lunch"),  # before the period, still paused
            (0, "NONE", "q-operator", AN, "ADDMEMBER", "|"),
            (60, "NONE", "q-violation", AN, "ADDMEMBER", "|"),
            (100, "1.1", "q-operator", "NONE", "ENTERQUEUE", "||0912345678|1"),
            (110, "1.1", "q-operator", AN, "CONNECT", "|10|1.2|3"),
            (410, "1.1", "q-operator", AN, "COMPLETECALLER", "|10|300|1"),
            (500, "NONE", "q-operator", AN, "PAUSE", "|break \u202e<script>"),
            (800, "NONE", "q-operator", AN, "UNPAUSE", "|"),
            (900, "broken line without fields", "", "", "", ""),
            (1000, "NONE", "q-operator", BINH, "UNPAUSE", "|"),
            (1200, "NONE", "q-operator", AN, "REMOVEMEMBER", "|"),
            (1300, "NONE", "q-violation", AN, "REMOVEMEMBER", "|"),
        ]
    )


def test_stretches_of_each_state_cut_to_the_period(tmp_path: Path) -> None:
    day = datetime(2026, 12, 3, 1, 0, tzinfo=UTC)
    path = tmp_path / "queue_log"
    # Three weeks of other days first: a day is found by bisection.
    filler = "".join(
        f"{int((day - timedelta(days=21)).timestamp()) + i * 5}|9.{i}|q-operator|NONE|ENTERQUEUE||09|1\n"
        for i in range(180_000)
    )
    path.write_text(filler + _log(day) + "not-a-time|x\n", encoding="utf-8")
    since, until = day, day + timedelta(hours=2)
    # Entered near the period: the weeks before are not read.
    entered = agent_states.seek_time(path, (since - agent_states.LOOK_BACK).timestamp())
    assert entered > 0.85 * len(filler.encode())
    found = agent_states.read([path], since, until)
    by = {(s.agent, s.state): s for s in found}
    assert by[(AN, "logged_in")].seconds == 1300
    assert by[(AN, "talking")].seconds == 300
    assert (by[(AN, "paused")].seconds, by[(AN, "paused")].reason) == (300, "break \u202e<script>")
    # Bình paused an hour before the period: counted from its start.
    assert (by[(BINH, "paused")].start, by[(BINH, "paused")].seconds) == (since, 1000)
    totals = agent_states.totals(found)
    assert totals[AN] == {"logged_in": 1300.0, "talking": 300.0, "paused": 300.0}


async def test_supervisors_get_the_csv_and_todays_seconds(site: Site) -> None:
    tz = ZoneInfo(site.settings.site.timezone)
    today = datetime.now(tz).replace(hour=0, minute=5, second=0, microsecond=0)
    path = site.settings.queue_log_path
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(_log(today.astimezone(UTC)), encoding="utf-8")
    await as_user(site, "an")
    assert (await site.client.get("/api/v1/agents/today")).status == 403
    await as_user(site, "sup")
    figures = (await (await site.client.get("/api/v1/agents/today")).json())["agents"]
    assert figures["101"] == {"logged_in": 1300, "talking": 300, "paused": 300}
    reply = await site.client.get(f"/api/v1/reports/agents.csv?from={today.date()}&to={today.date()}")
    rows = list(csv.DictReader(io.StringIO(await reply.text())))
    paused = next(r for r in rows if r["extension"] == "101" and r["state"] == "paused")
    assert paused["start"] == today.strftime("%d/%m/%Y 00:13:20") and paused["seconds"] == "300"
    assert (await site.client.get("/api/v1/reports/agents.csv?from=2026-01-01&to=2026-12-31")).status == 400
