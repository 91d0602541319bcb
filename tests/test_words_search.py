"""The request list's search by words on PostgreSQL: one trigram index (pg_trgm, migration 0027) serves it,
and the planner takes that index for the list's own query; where the database's role may not create the
extension, the upgrade still ends at the head without the index, says what an administrator can run, and
the search still finds what it should."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from urllib.parse import quote, urlsplit

import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import select, text
from sqlalchemy.dialects.postgresql.asyncpg import dialect as asyncpg_dialect

from casework import workflow as wf
from hotline.db.engine import make_engine
from hotline.db.migrate import alembic_config, upgrade_async
from hotline.db.models import WORDS_INDEX, CitizenRequest, Role
from tests.conftest import POSTGRES_SERVER, run_as_admin
from tests.helpers.requests import as_user
from tests.web_site import Site, postgres_site
from web.context import CONTEXT
from web.staff import request_search

__all__ = ["postgres_site"]  # the fixture
AGENT = wf.Actor("an", Role.AGENT)
WORDS = (
    "Đèn đường không sáng tại phố Lê Lợi",
    "Rác thải tồn đọng ở ngõ Bà Triệu",
    "Ống nước bị vỡ trên đường Trần Phú",
)


async def _requests(site: Site, n: int = 300) -> None:
    now = datetime.now(UTC)
    async with site.hotline.db() as session, session.begin():
        for i in range(n):
            session.add(
                wf.open_request(
                    f"7{i:07d}",
                    AGENT,
                    now - timedelta(hours=i),
                    topic="violation",
                    words=WORDS[i % 3] + f", số {i}",
                    contact_name="Hoàng Thị Xuân" if i == 17 else f"Công dân {i}",
                    address="số 5 ngõ Hạc Thành" if i == 42 else "",
                    channel="call",
                )
            )


async def _found(site: Site, q: str) -> list[str]:
    reply = await site.client.get(f"/requests?status=all&sort=newest&q={quote(q)}")
    page = await reply.text()
    assert reply.status == 200, page[:300]
    return [part.split('"', 1)[0] for part in page.split('data-number="')[1:]]


async def test_the_words_search_uses_one_trigram_index(postgres_site: Site) -> None:
    site = postgres_site
    await _requests(site)
    await as_user(site, "sup")
    async with site.hotline.db() as session:
        valid = await session.scalar(
            text("SELECT indisvalid FROM pg_index WHERE indexrelid = CAST(:name AS regclass)"),
            {"name": WORDS_INDEX},
        )
        assert valid is True
        # The list's condition, as the page's query writes it: with sequential scans priced out, the
        # planner answers it from the index, which it can only if the two expressions are the same.
        search = request_search.Search(q="ngõ Bà Triệu", status="all", sort="newest")
        statement = request_search.statement(site.client.app[CONTEXT], search, datetime.now(UTC))
        condition = statement.whereclause
        assert condition is not None
        pg = asyncpg_dialect()
        words = select(CitizenRequest.id).where(
            *[c for c in condition.get_children() if "ILIKE" in str(c.compile(dialect=pg))]
        )
        compiled = words.compile(dialect=pg, compile_kwargs={"literal_binds": True})
        await session.execute(text("SET LOCAL enable_seqscan = off"))
        plan = "\n".join(await session.scalars(text(f"EXPLAIN {compiled}")))
        assert WORDS_INDEX in plan, plan
    # Words, a name, an address; a word and its capitals; LIKE's own wildcards taken as plain spaces.
    assert len(await _found(site, "ngõ Bà Triệu")) == 50  # a page of the 100
    assert await _found(site, "hoàng thị xuân") == ["70000017"]
    assert await _found(site, "Hạc Thành") == ["70000042"]
    assert await _found(site, "phố Lê Lợi, số 267") == ["70000267"]
    assert await _found(site, "%_%") == []


@pytest.fixture
def limited_database() -> Iterator[tuple[str, str]]:
    """A database owned by the administrator, and a role that may create tables in its public schema but
    not extensions in it (as a site's role may be): (the role's URL, the administrator's URL)."""
    name = f"hotline_test_{uuid.uuid4().hex[:8]}"
    role = f"{name}_app"
    # Roles outlive databases: a killed run's are removed here.
    run_as_admin(
        "DO $$ DECLARE r record; BEGIN FOR r IN SELECT rolname FROM pg_roles "
        "WHERE rolname LIKE 'hotline\\_test\\_%\\_app' AND NOT EXISTS (SELECT 1 FROM pg_database d "
        "WHERE d.datname = left(rolname, length(rolname) - 4)) LOOP "
        "EXECUTE format('DROP ROLE %I', r.rolname); END LOOP; END $$",
        f'CREATE ROLE "{role}" LOGIN',
        f'CREATE DATABASE "{name}"',
    )
    run_as_admin(f'GRANT USAGE, CREATE ON SCHEMA public TO "{role}"', database=name)
    split = urlsplit(POSTGRES_SERVER)
    host = split.netloc.rsplit("@", 1)[-1]
    try:
        yield (
            f"postgresql+asyncpg://{role}@{host}/{name}",
            f"postgresql+asyncpg://{split.netloc}/{name}",
        )
    finally:
        run_as_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)', f'DROP ROLE IF EXISTS "{role}"')


async def test_without_the_right_to_create_the_extension_the_upgrade_goes_on(
    limited_database: tuple[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    as_site, as_admin = limited_database
    with caplog.at_level(logging.WARNING, logger="alembic.runtime.migration"):
        await upgrade_async(as_site)
    said = " ".join(r.getMessage() for r in caplog.records)
    assert "may not create the pg_trgm extension" in said and "CREATE EXTENSION IF NOT EXISTS pg_trgm" in said
    engine = make_engine(as_site)
    try:
        async with engine.connect() as conn:
            head = ScriptDirectory.from_config(alembic_config(as_site)).get_current_head()
            assert await conn.scalar(text("SELECT version_num FROM alembic_version")) == head
            assert await conn.scalar(text("SELECT to_regclass(:i)"), {"i": WORDS_INDEX}) is None
    finally:
        await engine.dispose()
    # What the warning says to run, run by an administrator, makes the index.
    statements = said.split("in this database: ", 1)[1].split("; ")
    admin = make_engine(as_admin)
    try:
        async with admin.connect() as conn:
            conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
            for statement in statements:
                await conn.execute(text(statement))
            assert await conn.scalar(text("SELECT to_regclass(:i)::text"), {"i": WORDS_INDEX}) == WORDS_INDEX
    finally:
        await admin.dispose()


async def test_a_words_search_is_planned_for_its_own_words(postgres_site: Site) -> None:
    """The list's statement is prepared once per connection; a search by words asks PostgreSQL for a plan
    of its own each time (a common word and a rare name want different ones), for that transaction only."""
    db = postgres_site.hotline.db
    for search, mode in (
        (request_search.Search(q="ngõ Bà Triệu"), "force_custom_plan"),
        (request_search.Search(q="70000017"), "auto"),  # a request's number
        (request_search.Search(q="0912 000 017"), "auto"),  # a phone number
        (request_search.Search(), "auto"),
    ):
        async with db() as session:
            await request_search.plan_for_the_words(session, search)
            assert await session.scalar(text("SHOW plan_cache_mode")) == mode, search
    async with db() as session:  # the next transaction on the same connection: back to the default
        assert await session.scalar(text("SHOW plan_cache_mode")) == "auto"
