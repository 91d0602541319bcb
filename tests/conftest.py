"""Shared fixtures: the sandbox Asterisk (session-wide), an AMI client, the simulated caller, the agents'
phones, PostgreSQL and Chromium.

A fixture that needs the sandbox and cannot start it raises: the test errors out, it is never skipped.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import os
import shutil
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from ami_bridge.connection import AMIConnection
from hotline import settings as site_settings
from hotline.asterisk.config import endpoint
from hotline.settings import Settings
from shell.callsim import CallRequest, CallResult, connect_ami, place_call
from shell.sandbox.phones import PhoneControl
from shell.sandbox.runner import Sandbox
from tests.space import ROOT, TEST_SETTINGS

__all__ = ["ROOT", "TEST_SETTINGS"]
ARTIFACTS = ROOT / "test-artifacts"

Caller = Callable[..., Awaitable[CallResult]]


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """A skipped integration test proves nothing: the run fails if anything was skipped."""
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    skipped = len(reporter.stats.get("skipped", [])) if reporter else 0
    if skipped and not os.environ.get("HOTLINE_ALLOW_SKIPS") and exitstatus == 0:
        reporter.write_line(
            f"{skipped} test(s) skipped: failing the run (set HOTLINE_ALLOW_SKIPS=1 to allow)"
        )
        session.exitstatus = 1


@pytest.fixture(scope="session")
def site() -> Settings:
    return site_settings.load(TEST_SETTINGS)


@pytest.fixture(scope="session")
def sandbox(site: Settings) -> Iterator[Sandbox]:
    box = Sandbox(site, log=lambda line: print(line, flush=True))
    box.up()
    yield box
    if not os.environ.get("HOTLINE_KEEP_SANDBOX"):
        box.down()


@pytest.fixture(scope="session")
async def ami(site: Settings, sandbox: Sandbox) -> AsyncIterator[AMIConnection]:
    conn = await connect_ami(site)
    yield conn
    await conn.close()


@pytest.fixture
def call(site: Settings, ami: AMIConnection) -> Caller:
    """`await call("1022", keys="21", hangup_after=5)`: one simulated caller, its result when it ended."""

    async def _call(number: str, **options: Any) -> CallResult:
        return await place_call(site, CallRequest(number, **options), ami=ami)

    return _call


@pytest.fixture(scope="session")
def phones(site: Settings, sandbox: Sandbox) -> dict[str, PhoneControl]:
    """The agents' baresip phones by extension, for dialling or hanging up from a test."""
    return {a.extension: sandbox.phone_control(endpoint(a.extension)) for a in site.phone_agents()}


POSTGRES_SERVER = os.environ.get("HOTLINE_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres")


def run_as_admin(*sql: str, database: str = "postgres") -> None:
    """Statements run in turn as the PostgreSQL server's administrator, in `database`; in a thread, since
    the tests' own event loop may be running."""
    import asyncpg

    url = POSTGRES_SERVER.rsplit("/", 1)[0] + f"/{database}"

    async def admin() -> None:
        conn = await asyncpg.connect(url, timeout=10)
        try:
            for statement in sql:
                await conn.execute(statement)
        finally:
            await conn.close()

    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, admin()).result()


@contextlib.contextmanager
def postgres_database() -> Iterator[str]:
    """A database of its own on the machine's PostgreSQL (or the throwaway cluster the test command
    started), dropped afterwards."""
    import asyncpg

    server = POSTGRES_SERVER
    name = f"hotline_test_{uuid.uuid4().hex[:8]}"

    try:
        run_as_admin(f'CREATE DATABASE "{name}"')
    except (OSError, asyncpg.PostgresError) as exc:
        raise RuntimeError(
            f"PostgreSQL at {server} is not usable ({exc}); run the tests with scripts/test, which starts a "
            "throwaway cluster when none is running"
        ) from None
    try:
        yield server.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://") + f"/{name}"
    finally:
        run_as_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """Each test that takes it runs twice: on a SQLite file of its own and on a PostgreSQL database of its
    own."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path}/hotline.db"
    else:
        with postgres_database() as url:
            yield url


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A database shared by the session's PostgreSQL tests."""
    with postgres_database() as url:
        yield url


@pytest.fixture
def fresh_postgres_url() -> Iterator[str]:
    """A database for this test alone."""
    with postgres_database() as url:
        yield url


@pytest.fixture(scope="session")
def chromium() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if not path:
        raise RuntimeError("Chromium is not installed; scripts/test installs Debian's chromium package")
    return path


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS
