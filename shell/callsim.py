"""A simulated caller: `hotline call 1022 --keys 21`.

AMI Originate creates a Local channel pair. One half runs the hotline's dialplan exactly as a call from the
carrier would; the other half (context hotline-callersim) answers, waits, presses the keys as DTMF and hangs
up. Every AMI event of the call (same linkedid) is collected until the last channel of the call hangs up.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass, field

from ami_bridge import actions
from ami_bridge.connection import AMIConnection
from ami_bridge.message import AMIMessage as Message
from hotline import secrets
from hotline.settings import Settings

ORIGINATE_TIMEOUT = 15.0
SETTLE_SECONDS = 0.3


@dataclass(frozen=True)
class CallRequest:
    number: str
    keys: str = ""
    first_wait: float = 2.0
    key_ms: int = 250
    hangup_after: float = 20.0
    caller: str = "0912345678"
    context: str = "hotline-inbound"
    say: str = ""  # a sound the caller "speaks" after the keys (e.g. a message for the voice mailbox)
    say_after: float = 0.0  # seconds between the keys and speaking

    def __post_init__(self) -> None:
        bad = set(self.keys) - set("0123456789*#wW")
        if bad:
            raise ValueError(
                f"--keys {self.keys!r}: use digits, * and #, and w for a 0.5 s pause (not {''.join(bad)})"
            )


@dataclass
class CallResult:
    linkedid: str
    answered: bool
    reason: str = ""
    events: list[Message] = field(default_factory=list)
    started: float = 0.0
    ended: float = 0.0

    @property
    def variables(self) -> dict[str, str]:
        """The last value of every HOTLINE_* variable set on the call's channels."""
        out: dict[str, str] = {}
        for e in self.events:
            if e.event == "VarSet" and str(e.Variable).lstrip("_").startswith("HOTLINE_"):
                out[str(e.Variable).lstrip("_")] = str(e.Value)
        return out

    def named(self, event: str) -> list[Message]:
        return [e for e in self.events if e.event == event]

    @property
    def agent(self) -> str:
        connects = self.named("AgentConnect")
        return str(connects[-1].MemberName or connects[-1].Interface) if connects else ""

    @property
    def queue(self) -> str:
        joins = self.named("QueueCallerJoin")
        return str(joins[-1].Queue) if joins else ""

    @property
    def seconds_to_queue(self) -> float | None:
        """From the hotline's answer to the caller joining a queue, by Asterisk's own event times."""
        answer = next(
            (
                e
                for e in self.events
                if e.event == "Newexten" and e.Uniqueid == self.linkedid and e.Application == "Answer"
            ),
            None,
        )
        joins = self.named("QueueCallerJoin")
        if answer is None or not joins or "Timestamp" not in answer or "Timestamp" not in joins[0]:
            return None
        return round(float(joins[0].Timestamp) - float(answer.Timestamp), 2)

    def as_dict(self) -> dict[str, object]:
        return {
            "linkedid": self.linkedid,
            "answered": self.answered,
            "reason": self.reason,
            "seconds": round(self.ended - self.started, 2),
            "variables": self.variables,
            "queue": self.queue,
            "seconds_to_queue": self.seconds_to_queue,
            "agent": self.agent,
            "agi": [str(e.get("Command", "")) for e in self.named("AGIExecStart")],
            "dtmf": "".join(str(e.Digit) for e in self.named("DTMFEnd") if e.Direction == "Received"),
            "events": [e.event for e in self.events],
        }

    def describe(self) -> str:
        d = self.as_dict()
        lines = [
            f"call {self.linkedid}: {'answered' if self.answered else 'not answered'} {self.reason}".rstrip()
        ]
        lines.append(f"  lasted {d['seconds']} s")
        for key, value in self.variables.items():
            lines.append(f"  {key} = {value}")
        if self.queue:
            lines.append(f"  queued in {self.queue}" + (f", answered by {self.agent}" if self.agent else ""))
        if self.named("QueueCallerAbandon"):
            lines.append("  abandoned in the queue")
        hangups = self.named("Hangup")
        if hangups:
            lines.append(f"  hangup cause {hangups[0].Cause} ({hangups[0]['Cause-txt']})")
        return "\n".join(lines)


async def connect_ami(settings: Settings, events: str = "on") -> AMIConnection:
    """As the tools user: every event of a call (the bridge's user sees only what it acts on)."""
    ami = AMIConnection(
        settings.ami.host,
        settings.ami.port,
        f"{settings.ami.username}-tools",
        secrets.ami_secret(settings, tools=True),
        events=events,
    )
    await ami.connect()
    return ami


async def place_call(
    settings: Settings, request: CallRequest, ami: AMIConnection | None = None, timeout: float | None = None
) -> CallResult:
    """Place one simulated call and wait until it has ended everywhere."""
    own = ami is None
    conn = ami or await connect_ami(settings)
    try:
        return await _run_call(conn, request, timeout)
    finally:
        if own:
            await conn.close()


async def _run_call(ami: AMIConnection, request: CallRequest, timeout: float | None) -> CallResult:
    # Our own uniqueid for the hotline half: it becomes the call's linkedid, which every event carries.
    linkedid = f"sim-{uuid.uuid4().hex[:12]}"
    result = CallResult(linkedid=linkedid, answered=False, started=time.time())
    live: set[str] = set()
    done = asyncio.Event()

    def collect(event: Message) -> None:
        if event.get("Linkedid") != linkedid and event.get("ActionID") != action_id:
            return
        result.events.append(event)
        if event.event == "Newchannel":
            live.add(str(event.Uniqueid))
        elif event.event == "Hangup":
            live.discard(str(event.Uniqueid))
            if not live:
                done.set()
        elif event.event == "OriginateResponse" and event.Response != "Success":
            result.reason = f"originate failed: {event.get('Reason', '')}"
            done.set()

    action_id = ""
    ami.on("*", collect)
    try:
        keys_seconds = (
            len(request.keys) * (request.key_ms / 1000 + 0.1) + request.keys.lower().count("w") * 0.5
        )
        limit = timeout or request.first_wait + keys_seconds + request.hangup_after + ORIGINATE_TIMEOUT
        limit += 180 + request.say_after if request.say else 0
        reply = await actions.originate(
            ami,
            Channel="Local/s@hotline-callersim",
            Context=request.context,
            Exten=request.number,
            Priority=1,
            CallerID=f'"{request.caller}" <{request.caller}>',
            ChannelId=linkedid,
            OtherChannelId=f"{linkedid}-caller",
            Timeout=int(ORIGINATE_TIMEOUT * 1000),
            Variable=[
                f"SIM_KEYS={request.keys}",
                f"SIM_FIRST_WAIT={request.first_wait}",
                f"SIM_KEY_MS={request.key_ms}",
                f"SIM_HANGUP_AFTER={request.hangup_after}",
                f"SIM_SAY={request.say}",
                f"SIM_SAY_AFTER={request.say_after}",
            ],
        )
        action_id = str(reply.get("ActionID", ""))
        try:
            await asyncio.wait_for(done.wait(), limit)
        except TimeoutError:
            result.reason = f"still up after {limit:.0f} s"
        # Events of the same call that Asterisk writes right after the last Hangup (queue and agent
        # summaries) belong to the result too.
        await asyncio.sleep(SETTLE_SECONDS)
    finally:
        ami.off(collect)
    result.ended = time.time()
    # The caller's half of the Local pair is "up" as soon as the simulated phone answers; the hotline
    # answered only if its own half ran Answer() in the hotline's dialplan.
    result.answered = any(
        e.event == "Newexten" and e.Uniqueid == linkedid and e.Application == "Answer" for e in result.events
    )
    return result
