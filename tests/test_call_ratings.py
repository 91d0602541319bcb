"""The callers' keypad ratings of their calls (HOTLINE_RATING, kept on the case): the agent and topic
reports and the wallboard's day figures count them; a value that is no rating counts for nothing; the
survey is in the dialplan only when the site has it on."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from ami_bridge.calls import Call
from ami_bridge.case_writer import CaseWriter
from hotline import settings as site_settings
from hotline.asterisk import config as asterisk_config
from hotline.db.engine import make_engine, sessions
from hotline.db.migrate import upgrade_async
from hotline.db.numbers import NumberAllocator
from shell.service import with_closed_call_hooks
from tests.conftest import TEST_SETTINGS
from web.stats import Today, report

TZ = ZoneInfo("Asia/Ho_Chi_Minh")


def _call(linkedid: str, agent: str, rating: str, at: datetime) -> Call:
    call = Call(linkedid=linkedid, started_at=at, caller="0912000111", did="1022", topic="violation")
    call.queue, call.queued_at, call.answered_at = (
        "violation",
        at + timedelta(seconds=5),
        at + timedelta(seconds=9),
    )
    call.agent, call.agent_name, call.wait_seconds = agent, f"agent {agent}", 4.0
    call.carried["rating"] = rating
    call.mark("entered", did="1022")
    call.finish(at + timedelta(seconds=60), "16 Normal Clearing")
    return call


async def test_ratings_count_in_the_reports_and_the_day_figures(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path}/ratings.db"
    await upgrade_async(url)
    engine = make_engine(url)
    db = sessions(engine)
    at = datetime.now(UTC) - timedelta(minutes=10)
    writer = with_closed_call_hooks(CaseWriter(db, NumberAllocator(db), settle_seconds=0))
    calls = [_call("r.1", "101", "4", at), _call("r.2", "101", "5", at), _call("r.3", "102", "", at)]
    calls.append(_call("r.4", "102", "9", at))  # not a rating
    await writer.write(calls)
    day = datetime.now(TZ).date()
    figures = await report(db, day, day, TZ, 20)
    agents = {a["agent"]: a for a in figures["per_agent"]}
    assert (agents["101"]["ratings"], agents["101"]["average_rating"]) == (2, 4.5)
    assert (agents["102"]["ratings"], agents["102"]["average_rating"]) == (0, None)
    assert figures["per_topic"][0]["ratings"] == 2 and figures["total"]["average_rating"] == 4.5
    today = Today(TZ, 20)
    await today.load(db)
    assert today.view()["violation"]["average_rating"] == 4.5
    today.add(_call("r.5", "101", "1", at))
    assert today.view()["violation"]["ratings"] == 3
    await engine.dispose()


def test_the_survey_is_in_the_dialplan_only_when_on(tmp_path: Path) -> None:
    for enabled in (True, False):
        site = site_settings.load(TEST_SETTINGS, overrides={"survey.enabled": enabled})
        written = asterisk_config.render(site, tmp_path / str(enabled))
        dialplan = next(p for p in written if p.name == "extensions.conf").read_text()
        assert ("[hotline-survey]" in dialplan) is enabled
        assert ("Queue(q-${HOTLINE_QUEUE},tc,,,${QUEUE_MAX_WAIT}" in dialplan) is enabled
