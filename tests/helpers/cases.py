"""A call's case as the bridge leaves it, read from the database the tests' site writes."""

from __future__ import annotations

import asyncio
import time

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from ami_bridge.connection import AMIConnection
from hotline.db.engine import make_engine, sessions
from hotline.db.models import Case
from hotline.settings import Settings
from shell.callsim import connect_ami


async def final_case(site: Settings, linkedid: str, timeout: float = 15.0) -> Case:
    """The case of a call once the bridge has closed it (and no second one)."""
    engine = make_engine(site.database_url)
    try:
        deadline = time.monotonic() + timeout
        while True:
            async with sessions(engine)() as session:
                # One query: a count and a fetch made apart can straddle the bridge's commit.
                found = list(
                    await session.scalars(
                        select(Case).where(Case.linkedid == linkedid).options(selectinload(Case.events))
                    )
                )
            case = found[0] if found else None
            if case is not None and case.ended_at is not None:
                assert len(found) == 1
                return case
            if time.monotonic() > deadline:
                raise AssertionError(f"no closed case for {linkedid} after {timeout} s (found {case})")
            await asyncio.sleep(0.2)
    finally:
        await engine.dispose()


def kinds(case: Case) -> list[str]:
    return [e.kind for e in case.events]


async def pause_member(site: Settings, extension: str, queue: str, paused: bool) -> None:

    ami: AMIConnection = await connect_ami(site)
    try:
        reply = await ami.action(
            "QueuePause",
            Interface=f"PJSIP/agent{extension}",
            Queue=f"q-{queue}",
            Paused=str(paused).lower(),
            Reason="test",
        )
        assert reply.response == "Success", reply
    finally:
        await ami.close()


async def until_answered(site: Settings, call: asyncio.Task[object], timeout: float = 40) -> Case:
    """The open case once the bridge has written that an agent answered."""
    from sqlalchemy import select

    engine = make_engine(site.database_url)
    try:
        for _ in range(int(timeout * 5)):
            async with sessions(engine)() as session:
                case = await session.scalar(
                    select(Case).where(Case.answered_at.is_not(None), Case.ended_at.is_(None))
                )
            if case is not None:
                return case
            assert not call.done(), "the call ended before an agent answered"
            await asyncio.sleep(0.2)
        raise AssertionError("no agent answered")
    finally:
        await engine.dispose()
