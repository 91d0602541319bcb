"""Who is asking: users with Argon2id password hashes, server-side sessions behind an HttpOnly cookie,
a CSRF token per session for every form and state-changing call, and bearer tokens for integrations.
Only SHA-256 hashes of session and API tokens are stored."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any, TypeVar

import pyotp
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from hotline.db.models import ApiToken, Role, User, WebSession, rows_changed
from hotline.errors import HotlineError
from hotline.values import same_secret

T = TypeVar("T")
COOKIE = "hotline_session"
HASHER = PasswordHasher()  # Argon2id with the library's current recommended cost
# Verified against when a username is unknown, so a wrong name takes as long as a wrong password.
_DUMMY_HASH = HASHER.hash(secrets.token_urlsafe(16))
MIN_PASSWORD = 10
# Consecutive wrong passwords that lock an account until an admin unlocks it (`hotline user unlock`).
LOCK_AFTER = 10
TOKEN_DAYS = 365  # an API token's default life
# Passwords people pick first, lower-cased (a list shipped with the project; no download at run time).
COMMON_PASSWORDS = frozenset(
    line.strip().lower()
    for line in (Path(__file__).with_name("common_passwords.txt")).read_text("utf-8").splitlines()
    if line.strip() and not line.startswith("#")
)


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
    credential: str = ""  # the stored hash of the session's or token's secret: what a re-check looks up
    agency: str = ""  # an agency user's agency

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


def check_password(password: str, username: str) -> None:
    """The rules a new password must meet; AuthError says which one it breaks."""
    if len(password) < MIN_PASSWORD:
        raise AuthError(f"a password needs at least {MIN_PASSWORD} characters")
    folded = password.casefold()
    if username and username.casefold() in folded:
        raise AuthError("a password must not contain the user name")
    if folded in COMMON_PASSWORDS or len(set(folded)) < 4:
        raise AuthError("this password is among the first that anyone would try; choose another")


def hash_password(password: str, username: str = "") -> str:
    check_password(password, username)
    return HASHER.hash(password)


async def add_user(
    db: async_sessionmaker[AsyncSession],
    username: str,
    password: str,
    role: str,
    extension: str = "",
    agency: str = "",
) -> User:
    try:
        parsed = Role(role)
    except ValueError:
        raise AuthError(f"unknown role {role!r}; use one of {', '.join(r.value for r in Role)}") from None
    if parsed is Role.AGENT and not extension:
        raise AuthError("an agent needs --extension: the phone and queues their desk controls")
    if (parsed is Role.AGENCY) != bool(agency):
        raise AuthError("an agency's user needs --agency (an [[agencies]] name), and only they have one")
    async with db() as session, session.begin():
        if await session.scalar(select(User.id).where(User.username == username)):
            raise AuthError(f"user {username!r} exists already")
        user = User(
            username=username,
            password_hash=hash_password(password, username),
            role=parsed.value,
            extension=extension,
            agency=agency,
            created_at=datetime.now(UTC),
        )
        session.add(user)
    return user


async def _change_user(
    db: async_sessionmaker[AsyncSession], username: str, sign_out: bool, **values: Any
) -> None:
    async with db() as session, session.begin():
        user_id = await session.scalar(select(User.id).where(User.username == username))
        if user_id is None:
            raise AuthError(f"no user {username!r}")
        await session.execute(update(User).where(User.id == user_id).values(**values))
        if sign_out:
            # Every browser of theirs is signed out; open live screens notice at their next re-check.
            await session.execute(delete(WebSession).where(WebSession.user_id == user_id))


async def set_password(db: async_sessionmaker[AsyncSession], username: str, password: str) -> None:
    await _change_user(db, username, True, password_hash=hash_password(password, username))


async def set_active(db: async_sessionmaker[AsyncSession], username: str, active: bool) -> None:
    """Disable (signing every session out) or enable a user."""
    await _change_user(db, username, not active, active=active)


async def unlock(db: async_sessionmaker[AsyncSession], username: str) -> None:
    await _change_user(db, username, False, locked_at=None, failed_logins=0)


class SignInResult(StrEnum):
    OK = "ok"
    WRONG = "wrong"  # unknown name, wrong password or disabled user: one answer for all three
    WRONG_CODE = "wrong_code"  # the right password, a missing or wrong one-time code
    NO_SECOND_FACTOR = "no_second_factor"  # the site asks this role for one and the user has none
    LOCKED = "locked"


TOTP_STEP = 30  # seconds per code (RFC 6238), as every authenticator app counts


def enrol_totp_secret() -> str:
    return pyotp.random_base32()


def totp_uri(secret: str, username: str, site: str) -> str:
    """What an authenticator app scans (as a QR code) or takes typed in."""
    return pyotp.TOTP(secret).provisioning_uri(name=username, issuer_name=site)


def totp_step(secret: str, code: str, last_step: int, at: float | None = None) -> int | None:
    """The time step a code belongs to (this one or its neighbours, for clocks a little apart), or None if
    it is wrong or its step was used already: a code seen once works no more."""
    code = code.strip().replace(" ", "")
    if not (code.isascii() and code.isdigit() and len(code) == 6):
        return None
    totp = pyotp.TOTP(secret)
    now = at if at is not None else time.time()
    current = int(now // TOTP_STEP)
    for step in (current - 1, current, current + 1):
        if step > last_step and same_secret(totp.at(step * TOTP_STEP), code):
            return step
    return None


async def set_totp(db: async_sessionmaker[AsyncSession], username: str, secret: str) -> None:
    """Give a user a second factor (a new secret) or take it away (""); their browsers are signed out."""
    await _change_user(db, username, True, totp_secret=secret, totp_last_step=0)


@dataclass(frozen=True)
class SignIn:
    result: SignInResult
    token: str = ""
    principal: Principal | None = None
    just_locked: bool = False  # this attempt was the one that locked the account


async def sign_in(
    db: async_sessionmaker[AsyncSession],
    username: str,
    password: str,
    hours: int,
    code: str = "",
    second_factor_role: Role | None = None,
    known_device: bool = False,
) -> SignIn:
    """A new session (its cookie token and who it is), or why not. Wrong passwords and wrong one-time
    codes from a browser the user never signed in from are counted on the account; the LOCK_AFTER-th
    locks it, and a locked account refuses even the right password, except from a `known_device` (whose
    wrong tries the caller throttles for that device alone). A user with a TOTP secret needs a code;
    `second_factor_role` and the roles above it need a secret to sign in at all."""
    async with db() as session:
        user = await session.scalar(select(User).where(User.username == username, User.active.is_(True)))
    right = await _off_loop(_verify, user.password_hash if user else _DUMMY_HASH, password)
    if user is None:
        return SignIn(SignInResult.WRONG)
    if user.locked_at is not None and not known_device:
        return SignIn(SignInResult.LOCKED)
    now = datetime.now(UTC)
    step = totp_step(user.totp_secret, code, user.totp_last_step) if user.totp_secret and right else None
    if (
        right
        and not user.totp_secret
        and second_factor_role
        and Role(user.role).rank >= second_factor_role.rank
    ):
        return SignIn(SignInResult.NO_SECOND_FACTOR)
    wrong_code = right and bool(user.totp_secret) and step is None
    if not right or wrong_code:
        refused = SignInResult.WRONG_CODE if wrong_code else SignInResult.WRONG
        if known_device:
            return SignIn(refused)
        failures = user.failed_logins + 1
        async with db() as session, session.begin():
            await session.execute(
                update(User)
                .where(User.id == user.id)
                .values(
                    failed_logins=User.failed_logins + 1, locked_at=now if failures >= LOCK_AFTER else None
                )
            )
        locked = failures >= LOCK_AFTER
        return SignIn(SignInResult.LOCKED if locked else refused, just_locked=locked)
    token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    rehashed = await _off_loop(_hash, password) if HASHER.check_needs_rehash(user.password_hash) else ""
    async with db() as session, session.begin():
        if step is not None:
            # Two sign-ins racing with one code: only the first moves the step on.
            taken = await session.execute(
                update(User).where(User.id == user.id, User.totp_last_step < step).values(totp_last_step=step)
            )
            if not rows_changed(taken):
                return SignIn(SignInResult.WRONG_CODE)
        values: dict[str, Any] = {"failed_logins": 0}
        if rehashed:
            values["password_hash"] = rehashed
        await session.execute(update(User).where(User.id == user.id).values(**values))
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
    principal = Principal(
        user.username, Role(user.role), user.extension, user.id, csrf, token_hash(token), user.agency
    )
    return SignIn(SignInResult.OK, token, principal)


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
    return Principal(
        user.username, Role(user.role), user.extension, user.id, csrf, token_hash(token), user.agency
    )


async def sign_out(db: async_sessionmaker[AsyncSession], token: str) -> None:
    async with db() as session, session.begin():
        await session.execute(delete(WebSession).where(WebSession.token_hash == token_hash(token)))


async def add_token(
    db: async_sessionmaker[AsyncSession], name: str, role: str, days: int | None = TOKEN_DAYS
) -> str:
    """A new API token, valid for `days` (None: until revoked); shown once, stored only as its hash."""
    try:
        parsed = Role(role)
    except ValueError:
        raise AuthError(f"unknown role {role!r}; use one of {', '.join(r.value for r in Role)}") from None
    token = "h1022_" + secrets.token_urlsafe(32)
    now = datetime.now(UTC)
    async with db() as session, session.begin():
        if await session.scalar(select(ApiToken.id).where(ApiToken.name == name)):
            raise AuthError(f"an API token named {name!r} exists already")
        session.add(
            ApiToken(
                name=name,
                token_hash=token_hash(token),
                role=parsed.value,
                created_at=now,
                expires_at=now + timedelta(days=days) if days is not None else None,
            )
        )
    return token


def _token_valid(now: datetime) -> Any:
    return (ApiToken.revoked_at.is_(None)) & (ApiToken.expires_at.is_(None) | (ApiToken.expires_at > now))


async def token_principal(db: async_sessionmaker[AsyncSession], token: str) -> Principal | None:
    now = datetime.now(UTC)
    async with db() as session, session.begin():
        found = await session.scalar(
            select(ApiToken).where(ApiToken.token_hash == token_hash(token), _token_valid(now))
        )
        if found is None:
            return None
        found.last_used_at = now
        return Principal(f"token:{found.name}", Role(found.role), credential=found.token_hash)


async def list_tokens(db: async_sessionmaker[AsyncSession]) -> list[ApiToken]:
    async with db() as session:
        return list(await session.scalars(select(ApiToken).order_by(ApiToken.name)))


async def revoke_token(db: async_sessionmaker[AsyncSession], name: str) -> None:
    async with db() as session, session.begin():
        done = await session.execute(
            update(ApiToken)
            .where(ApiToken.name == name, ApiToken.revoked_at.is_(None))
            .values(revoked_at=datetime.now(UTC))
        )
        if not rows_changed(done):
            raise AuthError(f"no API token {name!r} that is not revoked already")


async def still_valid(db: async_sessionmaker[AsyncSession], credentials: set[str]) -> set[str]:
    """Which of these session or token hashes still sign someone in (for screens that stay open)."""
    if not credentials:
        return set()
    now = datetime.now(UTC)
    async with db() as session:
        sessions_left = await session.scalars(
            select(WebSession.token_hash)
            .join(User, WebSession.user_id == User.id)
            .where(WebSession.token_hash.in_(credentials), WebSession.expires_at > now, User.active.is_(True))
        )
        tokens_left = await session.scalars(
            select(ApiToken.token_hash).where(ApiToken.token_hash.in_(credentials), _token_valid(now))
        )
        return set(sessions_left) | set(tokens_left)


def csrf_ok(principal: Principal, given: str) -> bool:
    return bool(principal.csrf) and same_secret(principal.csrf, given)
