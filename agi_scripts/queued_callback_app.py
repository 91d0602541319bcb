"""The "queued-callback" FastAGI route: a caller waiting in a queue pressed 9 ([hotline-queue-keys]). They
confirm the number to call back (their caller ID, or one they key in), the callback is recorded at their
place in the queue (when they joined it), and they hear when to expect the call. A caller who does not
confirm, or a database that does not answer, leaves HOTLINE_OUTCOME unset: the dialplan puts them back at
their place, and nothing of theirs is lost."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from agi_scripts.agi_channel import AGIChannel
from agi_scripts.fastagi import AGISession, Route
from agi_scripts.protocol import AGIHangup, quote
from hotline import queued_callbacks as qcb
from hotline.asterisk.channel_vars import PlaceVar, Var
from hotline.asterisk.naming import queue_id
from hotline.db.models import Outcome
from hotline.settings import Settings
from hotline.values import mask_number

log = logging.getLogger(__name__)
CONFIRM_TRIES = 2
CONFIRM_WAIT = 6.0
NUMBER_WAIT = 12.0
LONGEST_NUMBER = 15
CONFIRM_KEYS = "12"


async def confirmed(ch: AGIChannel, number: str) -> str | None:
    """The number read back; 1 takes it, 2 asks for another (read back in its turn). None: not confirmed."""
    for _ in range(CONFIRM_TRIES):
        if not qcb.plausible_number(number):
            entered = await ch.read_digits(["qcb_enter_number"], NUMBER_WAIT, LONGEST_NUMBER)
            number = (entered or "").rstrip("#")
            continue
        key = (
            await ch.play(["qcb_number_is"], CONFIRM_KEYS)
            or await ch.say_digits(number, CONFIRM_KEYS)
            or await ch.read_digits(["qcb_confirm"], CONFIRM_WAIT, 1)
        )
        if key == "1":
            return number
        if key == "2":
            number = ""
    return None


async def full_variable(ch: AGIChannel, expression: str) -> str:
    result = await ch.agi.command(f"GET FULL VARIABLE {quote(expression)}")
    return result.data if result.result == "1" else ""


def parse_args(args: Sequence[str], queues: set[str]) -> tuple[str, datetime, str, int] | None:
    """AGI(...,<queue>,<HOTLINE_QUEUED_AT in ms>,<linkedid>,<QUEUEPOSITION>) from the dialplan."""
    queue, joined, linkedid, position = [*args, "", "", "", ""][:4]
    if queue not in queues or not joined.isdigit() or not linkedid:
        return None
    return queue, datetime.fromtimestamp(int(joined) / 1000, UTC), linkedid, int(position or 0)


def queued_callback_route(settings: Settings, db: async_sessionmaker[AsyncSession]) -> Route:
    queues = {q.name for q in settings.queues}

    async def queued_callback(session: AGISession) -> None:
        ch = AGIChannel(session.stream)
        parsed = parse_args(session.args, queues)
        if parsed is None:
            log.warning("queued callback asked with arguments %r: not from a queue's caller", session.args)
            return
        queue, joined_at, linkedid, position = parsed
        number = await confirmed(ch, session.env.get("agi_callerid", ""))
        if number is None:
            await ch.play(["qcb_not_taken"])
            return
        case_number = await ch.get_variable(Var.CASE_NO)
        topic = await ch.get_variable(Var.TOPIC)
        try:
            async with db() as s, s.begin():
                asked = await qcb.ask(
                    s,
                    settings.queued_callbacks,
                    linkedid=linkedid,
                    case_number=case_number,
                    queue=queue,
                    number=number,
                    topic=topic,
                    joined_at=joined_at,
                    now=datetime.now(UTC),
                )
                callback_id = asked.callback.id
        except AGIHangup:
            raise
        except Exception:
            log.exception("queued callback for call %s could not be recorded; the caller holds on", linkedid)
            await ch.play(["qcb_not_taken"])
            return
        await ch.set_variable(PlaceVar.QCB, str(callback_id))
        await ch.set_variable(Var.OUTCOME, Outcome.CALLBACK.value)
        ahead = position or int(await full_variable(ch, f"${{QUEUE_WAITING_COUNT({queue_id(queue)})}}") or 0)
        agents = int(await full_variable(ch, f"${{QUEUE_MEMBER({queue_id(queue)},logged)}}") or 0)
        minutes = qcb.expected_minutes(ahead, agents, settings.queued_callbacks.handle_seconds)
        log.info(
            "queued callback %d for %s in %s (place of %s, about %d min)%s",
            callback_id,
            mask_number(number),
            queue,
            joined_at.isoformat(timespec="seconds"),
            minutes,
            ", already waiting" if asked.already else "",
        )
        await ch.play(["qcb_already" if asked.already else "qcb_confirmed", "qcb_expected"])
        await ch.agi.command(f"SAY NUMBER {minutes} {quote('')}")
        await ch.play(["qcb_minutes"])

    return queued_callback
