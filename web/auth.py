"""Who is asking: users with Argon2id password hashes, server-side sessions behind an HttpOnly cookie,
a CSRF token per session for every form and state-changing call, and bearer tokens for integrations.
Only SHA-256 hashes of session and API tokens are stored."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import os
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from hotline.db.models import ApiToken, Role, User, WebSession
from hotline.errors import HotlineError

T = TypeVar("T")
COOKIE = "hotline_session"
HASHER = PasswordHasher()  # Argon2id with the library's current recommended cost
# Verified against when a username is unknown, so a wrong name takes as long as a wrong password.
_DUMMY_HASH = HASHER.hash(secrets.token_urlsafe(16))
MIN_PASSWORD = 10


class AuthError(HotlineError):
    pass


@dataclass(frozen=True)
class Principal:
    """A signed-in user or an API token: what every handler checks the role of."""

    name: str
    role: Role
    extension: str = ""
    user_id: int | None = None
    csrf: str = ""  # empty for API tokens: they carry no cookie, so there is nothing to forge

    def can(self, role: Role) -> bool:
        return self.role.rank >= role.rank

    @property
    def can_supervise(self) -> bool:
        return self.can(Role.SUPERVISOR)


# Argon2 costs tens of milliseconds of CPU by design. On the event loop that every call shares it would
# stall the IVR and the AMI bridge (Asterisk drops an AMI client that does not read for 500 ms): it runs in
# a thread, one at a time, so a burst of guesses queues up behind itself and leaves a core for the calls.
HASHING_AT_ONCE = 1
_hashing: asyncio.Semaphore | None = None


def _yield_cpu() -> None:
    """Lower this worker thread's priority: when the cores are busy, the event loop's thread (calls) runs
    first and the hashing waits."""
    with contextlib.suppress(OSError, AttributeError):
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 10)


async def _off_loop(work: Callable[..., T], *args: Any) -> T:
    global _hashing
    if _hashing is None:
        _hashing = asyncio.Semaphore(HASHING_AT_ONCE)
    async with _hashing:
        return await asyncio.to_thread(work, *args)


def _verify(password_hash: str, password: str) -> bool:
    _yield_cpu()
    try:
        return bool(HASHER.verify(password_hash, password))
    except (VerificationError, InvalidHashError):
        return False


def _hash(password: str) -> str:
    _yield_cpu()
    return HASHER.hash(password)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def hash_password(password: str) -> str:
    if len(password) < MIN_PASSWORD:
        raise AuthError(f"a password needs at least {MIN_PASSWORD} characters")
    return HASHER.hash(password)


async def add_user(
    db: async_sessionmaker[AsyncSession], username: str, password: str, role: str, extension: str = ""
) -> User:
    try:
        parsed = Role(role)
    except ValueError:
        raise AuthError(f"unknown role {role!r}; use one of {', '.join(r.value for r in Role)}") from None
    if parsed is Role.AGENT and not extension:
        raise AuthError("an agent needs --extension: the phone and queues their desk controls")
    async with db() as session, session.begin():
        if await session.scalar(select(User.id).where(User.username == username)):
            raise AuthError(f"user {username!r} exists already")
        user = User(
            username=username,
            password_hash=hash_password(password),
            role=parsed.value,
            extension=extension,
            created_at=datetime.now(UTC),
        )
        session.add(user)
    return user


async def set_password(db: async_sessionmaker[AsyncSession], username: str, password: str) -> None:
    async with db() as session, session.begin():
        done = await session.execute(
            update(User).where(User.username == username).values(password_hash=hash_password(password))
        )
        if not done.rowcount:  # type: ignore[attr-defined]
            raise AuthError(f"no user {username!r}")
        # A new password signs every browser out.
        user_id = await session.scalar(select(User.id).where(User.username == username))
        await session.execute(delete(WebSession).where(WebSession.user_id == user_id))


async def sign_in(
    db: async_sessionmaker[AsyncSession], username: str, password: str, hours: int
) -> tuple[str, Principal] | None:
    """A new session's cookie token and who it is, or None for a wrong name or password."""
    async with db() as session:
        user = await session.scalar(select(User).where(User.username == username, User.active.is_(True)))
    if not await _off_loop(_verify, user.password_hash if user else _DUMMY_HASH, password) or user is None:
        return None
    token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    now = datetime.now(UTC)
    rehashed = await _off_loop(_hash, password) if HASHER.check_needs_rehash(user.password_hash) else ""
    async with db() as session, session.begin():
        if rehashed:
            await session.execute(update(User).where(User.id == user.id).values(password_hash=rehashed))
        await session.execute(delete(WebSession).where(WebSession.expires_at < now))
        session.add(
            WebSession(
                token_hash=token_hash(token),
                user_id=user.id,
                csrf=csrf,
                created_at=now,
                expires_at=now + timedelta(hours=hours),
            )
        )
    return token, Principal(user.username, Role(user.role), user.extension, user.id, csrf)


async def session_principal(db: async_sessionmaker[AsyncSession], token: str) -> Principal | None:
    async with db() as session:
        row = (
            await session.execute(
                select(User, WebSession.csrf)
                .join(WebSession, WebSession.user_id == User.id)
                .where(
                    WebSession.token_hash == token_hash(token),
                    WebSession.expires_at > datetime.now(UTC),
                    User.active.is_(True),
                )
            )
        ).first()
    if row is None:
        return None
    user, csrf = row
    return Principal(user.username, Role(user.role), user.extension, user.id, csrf)


async def sign_out(db: async_sessionmaker[AsyncSession], token: str) -> None:
    async with db() as session, session.begin():
        await session.execute(delete(WebSession).where(WebSession.token_hash == token_hash(token)))


async def add_token(db: async_sessionmaker[AsyncSession], name: str, role: str) -> str:
    """A new API token; shown once, stored only as its hash."""
    try:
        parsed = Role(role)
    except ValueError:
        raise AuthError(f"unknown role {role!r}; use one of {', '.join(r.value for r in Role)}") from None
    token = "h1022_" + secrets.token_urlsafe(32)
    async with db() as session, session.begin():
        if await session.scalar(select(ApiToken.id).where(ApiToken.name == name)):
            raise AuthError(f"an API token named {name!r} exists already")
        session.add(
            ApiToken(name=name, token_hash=token_hash(token), role=parsed.value, created_at=datetime.now(UTC))
        )
    return token


async def token_principal(db: async_sessionmaker[AsyncSession], token: str) -> Principal | None:
    async with db() as session, session.begin():
        found = await session.scalar(select(ApiToken).where(ApiToken.token_hash == token_hash(token)))
        if found is None:
            return None
        found.last_used_at = datetime.now(UTC)
        return Principal(f"token:{found.name}", Role(found.role))


def csrf_ok(principal: Principal, given: str) -> bool:
    return bool(principal.csrf) and hmac.compare_digest(principal.csrf, given)
