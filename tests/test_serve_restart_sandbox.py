"""`hotline serve` killed with -9 and restarted at once on the sandbox: the cases of the calls it followed
agree with their own timelines. In a module of its own: the process serves the FastAGI port, which the
bridge tests' in-process IVR holds while their module runs."""

from __future__ import annotations

import asyncio
import os
import signal

import pytest

from hotline.settings import Settings
from shell.callsim import CallRequest, place_call
from shell.sandbox.runner import Sandbox
from tests.helpers.cases import final_case, kinds, until_answered
from tests.services import start_hotline

pytestmark = pytest.mark.asterisk


async def test_serve_killed_while_a_welfare_caller_talks_leaves_a_case_that_agrees_with_its_timeline(
    site: Settings, sandbox: Sandbox
) -> None:
    """`hotline serve` (the IVR and the bridge in one process) killed with -9 while a caller of the welfare
    queue talks to the agent, and restarted at once: the case keeps when the caller was queued and how long
    they waited, as its own timeline says, so service level and speed of answer count the call."""
    first = await start_hotline("serve", "--no-web", ready=b"AMI bridge connected", timeout=60)
    second = None
    call = asyncio.create_task(place_call(site, CallRequest("1022", keys="3", hangup_after=20)))
    try:
        open_case = await until_answered(site, call)
        os.kill(first.pid, signal.SIGKILL)
        await first.wait()
        second = await start_hotline("serve", "--no-web", ready=b"AMI bridge connected", timeout=60)
        result = await call
        case = await final_case(site, result.linkedid)
    finally:
        for proc in (first, second):
            if proc is not None and proc.returncode is None:
                proc.terminate()
                await proc.wait()
    assert (case.outcome, case.queue, case.number) == ("answered", "welfare", open_case.number)
    queued = [e for e in case.events if e.kind == "queued"]
    answered = [e for e in case.events if e.kind == "answered"]
    assert queued and answered, kinds(case)
    timeline = [(e.at.isoformat(), e.kind, e.detail) for e in case.events]
    assert case.queued_at is not None and case.wait_seconds is not None, timeline
    assert abs((case.queued_at - queued[0].at).total_seconds()) < 1, timeline
    assert case.answered_at is not None and abs((case.answered_at - answered[0].at).total_seconds()) < 1, (
        timeline
    )
    assert case.wait_seconds == answered[0].detail["wait"], timeline
