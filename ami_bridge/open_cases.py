"""What the database knows of calls no bridge is following: the open cases of live calls a killed bridge
wrote (a restarted bridge goes on from them), and the calls that ended while no bridge followed them (closed
from Asterisk's own record, queue_log). The case writer then writes what these return."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import async_sessionmaker

from ami_bridge.calls import CARRIED, Call, complete_from_record
from ami_bridge.queue_log import CallRecord
from hotline.asterisk.naming import node_of
from hotline.db.models import Case, table

log = logging.getLogger(__name__)

CASES = table(Case)
UNSEEN_MARGIN = timedelta(seconds=5)


async def open_calls(db: async_sessionmaker[Any], linkedids: set[str]) -> list[Call]:
    """The calls whose cases are open in the database (an earlier bridge wrote them and was killed), as
    those cases have them: when the caller was queued and answered, and how long they waited, are known
    better there than from what Asterisk shows now."""
    async with db() as session:
        cases = await session.scalars(
            select(Case).where(Case.linkedid.in_(sorted(linkedids)), Case.ended_at.is_(None))
        )
        return [_call_from_case(case) for case in cases]


async def ended_while_away(
    db: async_sessionmaker[Any],
    live: set[str],
    records: dict[str, CallRecord],
    waiting: Callable[[str], bool],
    unseen_since: datetime | None = None,
    node: str = "",
) -> list[Call]:
    """The calls that ended while no bridge followed them, ended: cases left open (a bridge killed or
    crashed) and calls that never got a case (they started and ended while the bridge was down).
    Asterisk's record of a call (`records`, from queue_log) completes it; a case left open with no record
    is closed as ended at an unknown time. Calls still live, or `waiting` to be written, are left alone;
    writing the result twice changes nothing. A call gets a new case from its record only if it started
    after `unseen_since` (when a bridge last followed Asterisk, with a few seconds' margin): any earlier
    call was followed, so it has a case or is in the journal. Without it (the first start ever) no case
    is made from a record: older calls are not this bridge's to take in. With several nodes, a bridge
    closes only the open cases of its own `node` (the others' calls live on elsewhere)."""
    wanted = {lid for lid in records if lid not in live and not waiting(lid)}
    async with db() as session:
        left_open = {
            case.linkedid: case
            for case in await session.scalars(select(Case).where(Case.ended_at.is_(None)))
            if case.linkedid not in live
            and not waiting(case.linkedid)
            and (not node or node_of(case.linkedid) == node)
        }
        closed: set[str] = set()
        if wanted:
            closed = set(
                await session.scalars(
                    select(CASES.c.linkedid).where(
                        CASES.c.linkedid.in_(list(wanted)), CASES.c.ended_at.is_not(None)
                    )
                )
            )
    calls = [_closed_from_case(case, records.get(linkedid)) for linkedid, case in left_open.items()]
    horizon = unseen_since - UNSEEN_MARGIN if unseen_since else datetime.max.replace(tzinfo=UTC)
    for linkedid in sorted(wanted - closed - left_open.keys()):
        record = records[linkedid]
        if record.end.get("did") and record.started() >= horizon:
            calls.append(_call_from_record(linkedid, record))
        # else: not a hotline call (an agent dialling another), or one a bridge followed
    return calls


def _closed_from_case(case: Case, record: CallRecord | None) -> Call:
    call = _call_from_case(case)
    if record is not None:
        call.note = "ended while the bridge was not running (from Asterisk's record)"
        call.finish(*complete_from_record(call, record))
    else:
        call.note = "ended while the bridge was not running"
        call.finish(datetime.now(UTC), "unknown (ended while the bridge was not running)")
    return call


def _call_from_record(linkedid: str, record: CallRecord) -> Call:
    call = Call(linkedid=linkedid, started_at=datetime.now(UTC))
    ended = complete_from_record(call, record)
    call.timeline.insert(0, (call.started_at, "entered", {"did": call.did, "caller": call.caller}))
    call.note = "the bridge was not running during this call: written from Asterisk's record"
    call.finish(*ended)
    return call


def _call_from_case(case: Case) -> Call:
    call = Call(linkedid=case.linkedid, started_at=case.started_at, caller=case.caller, did=case.did)
    call.caller_name, call.number, call.topic, call.queue = (
        case.caller_name,
        case.number,
        case.topic,
        case.queue,
    )
    call.ivr_path, call.ivr_node = case.ivr_path, case.ivr_node
    call.carried = {name: getattr(case, name) for name in CARRIED}
    call.queued_at, call.answered_at, call.ivr_ended_at = case.queued_at, case.answered_at, case.ivr_ended_at
    call.agent, call.agent_name, call.wait_seconds = case.agent, case.agent_name, case.wait_seconds
    call.recording, call.voicemail = case.recording, case.voicemail
    if call.voicemail and Path(call.voicemail).is_file():
        call.outcome_hint = "voicemail"
    return call
