"""The "callback" FastAGI route: a citizen called back with their request's answer (channels/callback.py)
hears the hotline's notice, the request's number and the answer, and rates it from 1 to 5 by keypad. Once
they have heard the answer the call back counts as reached (with their rating when they gave one); a
citizen who hangs up before is called again at the next attempt."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from agi_scripts.agi_channel import AGIChannel
from agi_scripts.fastagi import AGISession
from channels import callback
from hotline.settings import Settings

log = logging.getLogger(__name__)
RATING_TRIES = 2
RATING_WAIT = 6.0


def callback_route(settings: Settings, db: async_sessionmaker[AsyncSession]):  # type: ignore[no-untyped-def]
    async def call_back(session: AGISession) -> None:
        ch = AGIChannel(session.stream)
        first = session.args[0] if session.args else ""
        message_id = int(first) if first.isdigit() else 0
        what = await callback.script(settings, db, message_id)
        if what is None:
            log.error("call back for message %r: no such call back waiting", first)
            return
        number, cut = what
        await ch.play(["callback_intro"])
        await ch.say_digits(number)
        await ch.play(
            ["callback_answer_is", f"{callback.ANSWERS}/answer-{message_id}"]
            + (["callback_answer_long"] if cut else [])
        )
        stars = None
        for _ in range(RATING_TRIES):
            key = await ch.read_digits(["callback_rate"], RATING_WAIT, 1)
            if key and key in "12345":
                stars = int(key)
                break
        await callback.reached(db, message_id, stars, datetime.now(UTC))
        log.info("call back %d for request %s: reached, rating %s", message_id, number, stars or "none")
        await ch.play(["callback_thanks" if stars else "goodbye"])

    return call_back
