"""The queued callbacks' rules on SQLite and PostgreSQL (one waiting callback per number, each try counted
once whether reported live or from queue_log, retried then failed, expired, and a failed callback on the
worklist), the dispatcher's parsing of what Asterisk reports (hostile values included), and the case
outcome of a caller who asked for one."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ami_bridge.calls import Call
from ami_bridge.case_writer import CaseWriter
from channels.queued_callbacks import Dispatcher, Report, reports_in_log, stand_in_of
from hotline import queued_callbacks as qcb
from hotline import settings
from hotline.db.engine import make_engine, sessions
from hotline.db.migrate import upgrade_async
from hotline.db.models import Case, MissedCall, QueuedCallback
from hotline.db.numbers import NumberAllocator
from hotline.settings import QueuedCallbacks, Settings
from shell.service import with_closed_call_hooks
from tests.conftest import TEST_SETTINGS

T0 = datetime(2026, 12, 3, 3, 0, tzinfo=UTC)
RULES = QueuedCallbacks(tries=2, retry_seconds=60, expire_minutes=30)


@pytest.fixture
async def db(database: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    await upgrade_async(database)
    engine = make_engine(database)
    yield sessions(engine)
    await engine.dispose()


async def ask(
    db: async_sessionmaker[AsyncSession], number: str, linkedid: str, at: datetime = T0
) -> qcb.Asked:
    async with db() as session, session.begin():
        return await qcb.ask(
            session,
            RULES,
            linkedid=linkedid,
            case_number="12345678",
            queue="welfare",
            number=number,
            topic="welfare",
            joined_at=at - timedelta(seconds=40),
            now=at,
        )


async def place(db: async_sessionmaker[AsyncSession], callback_id: int, token: str = "aa") -> str:
    """The stand-in of the callback's next try is placed: its linkedid."""
    stand_in = f"qcb-{callback_id}-{(await row(db, callback_id)).tries + 1}-{token}"
    async with db() as session, session.begin():
        assert await qcb.placing(session, callback_id, stand_in)
    return stand_in


async def tried(db: async_sessionmaker[AsyncSession], stand_in: str, result: str) -> None:
    async with db() as session, session.begin():
        await qcb.tried(session, RULES, stand_in, result, "102", "/r.wav", T0)


async def row(db: async_sessionmaker[AsyncSession], callback_id: int) -> QueuedCallback:
    async with db() as session:
        found = await session.get(QueuedCallback, callback_id)
    assert found is not None
    return found


async def test_one_waiting_callback_per_number_even_when_asked_at_once(
    db: async_sessionmaker[AsyncSession],
) -> None:
    both = await asyncio.gather(ask(db, "0966000001", "q.1"), ask(db, "0966000001", "q.2"))
    assert sorted(a.already for a in both) == [False, True]
    assert both[0].callback.id == both[1].callback.id
    other = await ask(db, "0966000002", "q.3")
    assert not other.already and other.callback.id != both[0].callback.id
    for hostile in ("", "anonymous", "0966\r\n1", "1" * 300, "09660000\uff101"):
        with pytest.raises(ValueError):
            await ask(db, hostile, "q.4")


async def test_a_try_counts_once_then_retries_then_fails_and_reaches_the_worklist(
    db: async_sessionmaker[AsyncSession],
) -> None:
    asked = await ask(db, "0966000003", "q.5")
    callback_id = asked.callback.id
    async with db() as session:
        assert [c.id for c in await qcb.due(session, T0, {"welfare"})] == [callback_id]
        assert await qcb.due(session, T0, {"health"}) == []
    first = await place(db, callback_id)
    async with db() as session, session.begin():
        await qcb.taken(session, first, "102")
    assert (await row(db, callback_id)).status == "connected"
    await tried(db, first, "NOANSWER")
    await tried(db, first, "NOANSWER")  # the same try from queue_log after a restart
    await tried(db, "qcb-1-1-zz", "ANSWER")  # a line of another time: no stand-in of ours
    waiting = await row(db, callback_id)
    assert (waiting.status, waiting.tries, waiting.next_at) == ("waiting", 1, T0 + timedelta(seconds=60))
    async with db() as session:
        assert await qcb.due(session, T0, {"welfare"}) == []  # not before the retry wait
        assert len(await qcb.due(session, T0 + timedelta(seconds=61), {"welfare"})) == 1
    # Its case, so that the failure can put the citizen on the worklist.
    writer = with_closed_call_hooks(CaseWriter(db, NumberAllocator(db), settle_seconds=0))
    c = Call(linkedid="q.5", started_at=T0, caller="0966000003", did="1022", topic="welfare")
    c.mark("entered", did="1022")
    c.queue, c.queued_at, c.outcome_hint = "welfare", T0, "callback"
    c.finish(T0 + timedelta(seconds=50), "16 Normal Clearing")
    await writer.write([c])
    async with db() as session:
        case = await session.scalar(select(Case).where(Case.linkedid == "q.5"))
        assert case is not None and case.outcome == "callback"
        # Asking for a callback is not a missed call: not on the worklist while the callback stands.
        assert await session.scalar(select(MissedCall).where(MissedCall.caller == "0966000003")) is None
    dispatcher = Dispatcher(_settings(), db, _NoAMI(), _open)
    dispatcher.reports.append(qcb_report(await place(db, callback_id, "bb"), "BUSY"))
    await dispatcher.apply()
    failed = await row(db, callback_id)
    assert (failed.status, failed.tries, failed.last_result) == ("failed", 2, "BUSY")
    async with db() as session:
        entry = await session.scalar(select(MissedCall).where(MissedCall.caller == "0966000003"))
    assert entry is not None and (entry.status, entry.topic) == ("open", "welfare")
    # A number with no waiting callback may ask again.
    assert not (await ask(db, "0966000003", "q.6")).already


async def test_reached_closes_it_and_expired_ones_close_at_their_time(
    db: async_sessionmaker[AsyncSession],
) -> None:
    reached = (await ask(db, "0966000004", "q.7")).callback.id
    async with db() as session, session.begin():  # the same citizen also missed a call earlier
        session.add(
            MissedCall(
                caller="0966000004", status="open", calls=1, topic="", outcome="", first_at=T0, last_at=T0
            )
        )
    await tried(db, await place(db, reached), "ANSWER")
    done = await row(db, reached)
    assert (done.status, done.recording, done.agent) == ("reached", "/r.wav", "102")
    async with db() as session:
        entry = await session.scalar(select(MissedCall).where(MissedCall.caller == "0966000004"))
    assert entry is not None and (entry.status, entry.last_result) == ("reached", "called_back")
    late = (await ask(db, "0966000005", "q.8")).callback.id
    async with db() as session, session.begin():
        assert await qcb.expire(session, T0 + timedelta(minutes=29)) == []
        assert [c.id for c in await qcb.expire(session, T0 + timedelta(minutes=30))] == [late]
    assert (await row(db, late)).status == "expired"
    async with db() as session:
        assert [c.id for c in await qcb.of_call(session, "q.7")] == [reached]


def test_what_the_caller_is_told_and_what_asterisk_reports_are_read_safely(tmp_path: Path) -> None:
    assert qcb.expected_minutes(0, 0, 180) == 5
    assert qcb.expected_minutes(4, 2, 180) == 10  # 4 calls of 3 min between 2 agents: 6 min, said as 10
    assert qcb.expected_minutes(500, 1, 600) == 120
    assert stand_in_of("qcb-12-2-ab12cd34") == (12, 2)
    for other in ("sim-1", "qcb-", "qcb-x-1", "qcb-1", "", "qcb-1\r\n-2"):
        assert stand_in_of(other) is None
    log = tmp_path / "queue_log"
    log.write_bytes(
        b"1764730000|qcb-3-1-aa|q-welfare|agent102|HOTLINE_QCB|3:1|NOANSWER|\n"
        b"1764730001|qcb-3-2-bb|q-welfare|NONE|HOTLINE_QCB|3:2|ANSWER|%2Fr%20a.wav\n"
        b"1764730002|x|q-welfare|NONE|HOTLINE_QCB|bad|ANSWER|\n"
        b"1764730003|x|q-welfare|NONE|HOTLINE_QCB\n"
        b"\xff\xfe|garbage|HOTLINE_QCB|\n"
        b"1764730004|sim-1|q-welfare|agent101|CONNECT|3|1|1\n"
    )
    found = reports_in_log(log)
    assert [(r.stand_in, r.result, r.agent, r.recording) for r in found] == [
        ("qcb-3-1-aa", "NOANSWER", "102", ""),
        ("qcb-3-2-bb", "ANSWER", "", "/r a.wav"),
    ]
    assert reports_in_log(tmp_path / "missing") == []


def qcb_report(stand_in: str, result: str) -> Report:
    return Report(stand_in, result, "102", "")


class _NoAMI:
    connects = 0
    connected = asyncio.Event()

    async def action(self, name: str, **fields: Any) -> Any:
        raise AssertionError(f"no AMI action expected here ({name})")

    async def action_list(self, name: str, **fields: Any) -> list[Any]:
        raise AssertionError(f"no AMI action expected here ({name})")


async def _open() -> bool:
    return True


def _settings() -> Settings:
    # Not the sandbox's queue_log: the dispatcher reads it on (re)connecting.
    loaded = settings.load(TEST_SETTINGS, overrides={"ami.queue_log": "/nonexistent/queue_log"})
    return loaded.model_copy(update={"queued_callbacks": RULES})


class _Asterisk(_NoAMI):
    """An AMI session that lists the channels given (CoreShowChannels), connected once."""

    def __init__(self, channels: list[dict[str, str]]) -> None:
        self.channels = channels
        self.connects = 1
        self.connected = asyncio.Event()
        self.connected.set()

    async def action_list(self, name: str, **fields: Any) -> list[Any]:
        assert name == "CoreShowChannels"
        return [{"Event": "CoreShowChannel", **c} for c in self.channels]


async def test_a_restarted_dispatcher_takes_the_tries_reported_while_it_was_away(
    db: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    """Killed with -9 while callbacks were tried: Asterisk's queue_log has the reports; a callback taken
    by an agent whose stand-in is gone without one (Asterisk restarted) counts a lost try; one whose
    stand-in still lives is left to it."""
    answered = (await ask(db, "0966000011", "r.1")).callback.id
    lost = (await ask(db, "0966000012", "r.2")).callback.id
    talking = (await ask(db, "0966000013", "r.3")).callback.id
    stand_ins = {
        c: await place(db, c, token) for c, token in ((answered, "aa"), (lost, "bb"), (talking, "cc"))
    }
    async with db() as session, session.begin():
        for stand_in in stand_ins.values():
            await qcb.taken(session, stand_in, "102")
    log = tmp_path / "queue_log"
    log.write_text(
        f"1764730000|qcb-{answered}-1-aa|q-welfare|agent102|HOTLINE_QCB|{answered}:1|ANSWER|%2Fr.wav\n"
    )
    settings = _settings().model_copy(
        update={"ami": _settings().ami.model_copy(update={"queue_log": str(log)})}
    )
    live = [{"Linkedid": f"qcb-{talking}-1-cc", "Uniqueid": f"qcb-{talking}-1-cc", "Channel": "Local/s@x;1"}]
    dispatcher = Dispatcher(settings, db, _Asterisk(live), _open)
    await dispatcher.resync()
    assert (await row(db, answered)).status == "reached"
    gone = await row(db, lost)
    assert (gone.status, gone.tries, gone.last_result) == ("waiting", 1, "LOST")
    assert (await row(db, talking)).status == "connected"
    assert dispatcher.live == {talking: {f"qcb-{talking}-1-cc"}}


async def test_reports_wait_for_a_database_that_is_locked(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path}/locked.db"
    await upgrade_async(url)
    engine = make_engine(url)
    db = sessions(engine)
    try:
        callback_id = (await ask(db, "0966000021", "l.1")).callback.id
        dispatcher = Dispatcher(_settings(), db, _NoAMI(), _open)
        dispatcher.reports.append(qcb_report(await place(db, callback_id), "ANSWER"))
        holder = sqlite3.connect(tmp_path / "locked.db")
        holder.execute("BEGIN EXCLUSIVE")
        try:
            with pytest.raises(OperationalError):
                await dispatcher.apply()
        finally:
            holder.rollback()
            holder.close()
        assert len(dispatcher.reports) == 1 and (await row(db, callback_id)).status == "waiting"
        await dispatcher.apply()
        assert dispatcher.reports == [] and (await row(db, callback_id)).status == "reached"
    finally:
        await engine.dispose()


class _Recorder(_Asterisk):
    """Takes Originate and Hangup actions and remembers them."""

    def __init__(self, channels: list[dict[str, str]]) -> None:
        super().__init__(channels)
        self.sent: list[tuple[str, dict[str, Any]]] = []

    async def action(self, name: str, **fields: Any) -> Any:
        self.sent.append((name, fields))
        return type("Reply", (), {"response": "Success", "message": ""})()


async def test_stand_ins_are_placed_within_the_hours_once_and_hung_up_when_they_expire(
    db: async_sessionmaker[AsyncSession],
) -> None:
    waiting = (await ask(db, "0966000031", "h.1", at=T0)).callback
    asterisk = _Recorder([])
    hours = {"open": False}

    async def open_now() -> bool:
        return hours["open"]

    dispatcher = Dispatcher(_settings(), db, asterisk, open_now)
    await dispatcher.round(T0 + timedelta(seconds=1))
    assert asterisk.sent == []  # closed: nobody to take it
    hours["open"] = True
    await dispatcher.round(T0 + timedelta(seconds=2))
    await dispatcher.round(T0 + timedelta(seconds=3))  # placed already: not twice
    (originate,) = [fields for name, fields in asterisk.sent if name == "Originate"]
    assert (originate["Channel"], originate["Context"]) == ("Local/s@hotline-qcb-hold", "hotline-qcb-wait")
    assert stand_in_of(originate["ChannelId"]) == (waiting.id, 1)
    assert (await row(db, waiting.id)).stand_in == originate["ChannelId"]  # on record before Asterisk
    variables = dict(v.split("=", 1) for v in originate["Variable"])
    assert variables["__HOTLINE_QCB"] == f"{waiting.id}:1"
    assert variables["__HOTLINE_QUEUE"] == "welfare"
    assert int(variables["__HOTLINE_QUEUED_AT"]) == int(waiting.joined_at.timestamp() * 1000)
    assert variables["__HOTLINE_DIAL"] == "Local/0966000031@hotline-callback-sim"
    # Its stand-in lives in Asterisk; past its expiry it is hung up and the callback closes.
    dispatcher.handle(
        {"Event": "Newchannel", "Linkedid": originate["ChannelId"], "Uniqueid": originate["ChannelId"]}
    )
    asterisk.channels = [
        {
            "Linkedid": originate["ChannelId"],
            "Uniqueid": originate["ChannelId"],
            "Channel": "Local/s@hotline-qcb-hold-1;1",
        }
    ]
    await dispatcher.round(T0 + timedelta(minutes=31))
    assert ("Hangup", {"Channel": "Local/s@hotline-qcb-hold-1;1", "Cause": "16"}) in asterisk.sent
    assert (await row(db, waiting.id)).status == "expired"


async def test_a_stand_in_whose_callback_was_closed_elsewhere_leaves_the_queue(
    db: async_sessionmaker[AsyncSession],
) -> None:
    closed = (await ask(db, "0966000041", "s.1")).callback.id
    kept = (await ask(db, "0966000042", "s.2")).callback.id
    async with db() as session, session.begin():
        found = await session.get(QueuedCallback, closed)
        assert found is not None
        await session.delete(found)  # as an erasure of the number does
    channels = [
        {"Linkedid": f"qcb-{closed}-1-aa", "Uniqueid": f"qcb-{closed}-1-aa", "Channel": "Local/s@q-1;1"},
        {"Linkedid": f"qcb-{kept}-1-bb", "Uniqueid": f"qcb-{kept}-1-bb", "Channel": "Local/s@q-2;1"},
    ]
    asterisk = _Recorder(channels)
    dispatcher = Dispatcher(_settings(), db, asterisk, _open)
    await dispatcher.round(T0 + timedelta(seconds=1))
    hung_up = [fields["Channel"] for name, fields in asterisk.sent if name == "Hangup"]
    assert hung_up == ["Local/s@q-1;1"]
