"""The "switches" FastAGI route: a supervisor dials the feature code ([switches] feature_code) from their
own phone, enters their PIN, and records an emergency announcement, turns it off, or forces the hours,
each for [switches] phone_hours. The phone says who is calling (its endpoint's caller ID), the PIN that it
is them; every change is audited under their name, as from the web app."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from datetime import UTC, datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from agi_scripts.agi_channel import AGIChannel
from agi_scripts.fastagi import AGISession, Route
from agi_scripts.protocol import AGIAppError, AGIHangup
from hotline import switches
from hotline.db.models import AuditEntry, Role, User
from hotline.settings import Settings

log = logging.getLogger(__name__)
PIN_TRIES = 3
PIN_WAIT = 10.0
MENU_WAIT = 8.0
RECORD_MS = 60_000
SILENCE_ENDS = 5  # seconds of silence that end a recording
SUPERVISING = tuple(r.value for r in Role if r.rank >= Role.SUPERVISOR.rank)
_HASHER = PasswordHasher()


def pin_matches(stored: str, pin: str) -> bool:
    try:
        return bool(stored) and _HASHER.verify(stored, pin)
    except (VerificationError, InvalidHashError):
        return False


async def supervisor_of(db: async_sessionmaker[AsyncSession], extension: str) -> User | None:
    if not extension.isdigit():
        return None
    async with db() as session:
        found: User | None = await session.scalar(
            select(User).where(
                User.extension == extension,
                User.active.is_(True),
                User.role.in_(SUPERVISING),
                User.phone_pin_hash != "",
            )
        )
    return found


async def checked(ch: AGIChannel, user: User | None) -> bool:
    for _ in range(PIN_TRIES):
        pin = (await ch.read_digits(["switch_pin"], PIN_WAIT, 8) or "").rstrip("#")
        # The check runs even with no such supervisor, so a wrong phone and a wrong PIN take as long.
        if await asyncio.to_thread(pin_matches, user.phone_pin_hash if user else "", pin) and user:
            return True
    await ch.play(["switch_refused"])
    return False


async def record(ch: AGIChannel, settings: Settings) -> str | None:
    """The supervisor speaks the announcement; its prompt name, or None when nothing was recorded."""
    name = f"a-{time.time_ns()}"
    folder = settings.sounds_path / settings.site.language / "hotline" / switches.ANNOUNCEMENTS
    folder.mkdir(parents=True, exist_ok=True)
    # Asterisk writes the recording here, as its own user; sticky, so no one deletes another's file.
    folder.chmod(0o1777)
    await ch.play(["switch_record"])
    # Relative to Asterisk's sounds folder, where the prompts are: the IVR plays it as it plays them.
    path = f"{settings.site.language}/hotline/{switches.ANNOUNCEMENTS}/{name}"
    try:
        await ch.agi.command(f"RECORD FILE {path} wav # {RECORD_MS} 0 BEEP s={SILENCE_ENDS}")
    except AGIHangup:
        pass  # hanging up is one way to finish speaking: what was said is kept
    except AGIAppError:
        log.error("the announcement could not be recorded in %s", folder)
        return None
    sound = folder / f"{name}.wav"
    if not sound.is_file() or sound.stat().st_size <= 44 + 8000:  # under half a second of sound
        return None
    return f"{switches.ANNOUNCEMENTS}/{name}"


def switches_route(settings: Settings, db: async_sessionmaker[AsyncSession]) -> Route:
    async def switches_by_phone(session: AGISession) -> None:
        ch = AGIChannel(session.stream)
        extension = session.env.get("agi_callerid", "")
        user = await supervisor_of(db, extension)
        if not await checked(ch, user) or user is None:
            log.warning("emergency switches refused to the phone %s", extension)
            return
        choice = await ch.read_digits(["switch_menu"], MENU_WAIT, 1)
        now = datetime.now(UTC)
        until = now + timedelta(hours=settings.switches.phone_hours)
        action = ""
        # Recorded before the transaction: a minute of speech holds no database lock.
        prompt = await record(ch, settings) if choice == "1" else None
        async with db() as s, s.begin():
            if prompt:
                await switches.throw(s, switches.ANNOUNCEMENT, prompt, until, user.username)
                action = "switch.announcement.on"
            elif choice == "2":
                await switches.turn_off(s, switches.ANNOUNCEMENT)
                action = "switch.announcement.off"
            elif choice in ("3", "4"):
                forced = "closed" if choice == "3" else "open"
                await switches.throw(s, switches.HOURS, forced, until, user.username)
                action = f"switch.hours.{forced}"
            elif choice == "5":
                await switches.turn_off(s, switches.HOURS)
                action = "switch.hours.auto"
            if action:
                s.add(
                    AuditEntry(
                        at=now,
                        actor=user.username,
                        action=action,
                        target=action.split(".")[1],
                        detail={"on": "phone", "phone": extension, "until": until.isoformat()},
                    )
                )
        if action:
            log.info("%s by %s from the phone %s", action, user.username, extension)
            with contextlib.suppress(AGIHangup):
                await ch.play(["switch_done"])

    return switches_by_phone
