"""The "callback" FastAGI route: a citizen called back with their request's answer (channels/callback.py)
hears the hotline's notice, the request's number and the answer, and rates it from 1 to 5 by keypad. Once
they have heard the answer the call back counts as reached (with their rating when they gave one); a
citizen who hangs up before is called again at the next attempt.

When an agent tells the answer, the route reads the notice and the number and leaves the call to the
dialplan ([hotline-callback] agent: the queue of the request's topic); it is called again with `rate` once
the agent hung up, and with `no-agent` when none took the call in the queue's time."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from agi_scripts.agi_channel import AGIChannel
from agi_scripts.fastagi import AGISession, Route
from channels import callback
from hotline.asterisk.channel_vars import Var
from hotline.settings import Settings

log = logging.getLogger(__name__)
RATING_TRIES = 2
RATING_WAIT = 6.0


async def rating(ch: AGIChannel) -> int | None:
    for _ in range(RATING_TRIES):
        key = await ch.read_digits(["callback_rate"], RATING_WAIT, 1)
        if key and key in "12345":
            return int(key)
    return None


def callback_route(settings: Settings, db: async_sessionmaker[AsyncSession]) -> Route:
    async def call_back(session: AGISession) -> None:
        ch = AGIChannel(session.stream)
        first = session.args[0] if session.args else ""
        then = session.args[1] if len(session.args) > 1 else ""
        message_id = int(first) if first.isdigit() else 0
        what = await callback.script(settings, db, message_id)
        if what is None:
            log.error("call back for message %r: no such call back waiting", first)
            return
        if then == "rate":
            stars = await rating(ch)
            await callback.rated(db, message_id, stars, datetime.now(UTC))
            log.info("call back %d for request %s: rating %s", message_id, what.number, stars or "none")
            await ch.play(["callback_thanks" if stars else "goodbye"])
            return
        if then == "no-agent":
            await callback.no_agent(db, message_id, datetime.now(UTC))
            log.warning("call back %d for request %s: no agent took it", message_id, what.number)
            return
        await ch.play(["callback_intro"])
        await ch.say_digits(what.number)
        if what.queue:
            await ch.play(["callback_connecting"])
            await callback.reached(db, message_id, None, datetime.now(UTC), what.queue)
            # The desk and the case know the citizen by their number, not by the hotline's caller ID the
            # call back showed them; the request number makes the case one of the request's contacts.
            await ch.set_variable("CALLERID(num)", what.to)
            await ch.set_variable(f"__{Var.REQUEST_NO}", what.number)
            await ch.set_variable(f"__{Var.QUEUE}", what.queue)
            await ch.set_variable(Var.DEST, f"queue-{what.queue}")
            log.info("call back %d for request %s: to the %s queue", message_id, what.number, what.queue)
            return
        await ch.play(
            # As the SMS and the follow page say it: an answer that fixes nothing is not "the answer".
            ["callback_answer_not_fixed" if what.not_fixed else "callback_answer_is"]
            + [f"{callback.ANSWERS}/answer-{message_id}"]
            + (["callback_answer_long"] if what.cut else [])
        )
        stars = await rating(ch)
        await callback.reached(db, message_id, stars, datetime.now(UTC))
        log.info("call back %d for request %s: reached, rating %s", message_id, what.number, stars or "none")
        await ch.play(["callback_thanks" if stars else "goodbye"])

    return call_back
