"""An ended call as its case was just written: what the case writer hands, inside its transaction, to the
other records of calls the shell registers (the worklist, the contacts of the request a call was about)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession


@dataclass(frozen=True)
class ClosedCall:
    case_id: int
    caller: str
    outcome: str
    topic: str
    started_at: datetime
    ended_at: datetime
    request_number: str  # the request an agent called the citizen back about, or ""
    linkedid: str = ""
    case_number: str = ""
    queue: str = ""  # the queue the caller waited in, if any
    queued_at: datetime | None = None  # when they joined it
    lost_node: str = ""  # the node whose loss ended the call (ami_bridge/node_loss.py), or ""


# Runs in the case's transaction: what it writes and the case are written together, or neither is.
ClosedCallHook = Callable[[AsyncSession, ClosedCall], Awaitable[None]]
