"""Database fail-over drills: the hotline on a PostgreSQL primary and synchronous standby under Patroni
(with etcd), each in a network namespace of the test's own, while SIPp places calls through the edge to two
Asterisk nodes, citizens submit the web form, the center and an agency take steps, and the outbox sends
mail. The primary's machine dies (kill -9 of Patroni and PostgreSQL), or its link is cut.

Every call ends as exactly one complete case; every form answered 201 and every step answered 200 is in
the database (the others were refused with an error, never taken silently); every message arrives once;
no two members take writes at the same moment. The write outage is measured."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from pathlib import Path

import aiohttp
import pytest
from sqlalchemy import func, select, text
from sqlalchemy.orm import selectinload

from hotline.db.engine import make_engine
from hotline.db.migrate import upgrade_async
from hotline.db.models import Case, CitizenRequest, OutboxMessage, OutboxStatus
from hotline.settings import Settings
from shell.sandbox.carrier import CallPlan, CallResult, Carrier
from shell.sandbox.cluster import ClusterSandbox
from shell.sandbox.patroni import PatroniCluster
from shell.service import services
from tests.helpers.cluster import carrier, cluster_site, running_cluster
from tests.helpers.outbox import queue_messages
from tests.helpers.portal import answered
from tests.mail_servers import MailServers, mail_servers
from tests.processes import eventually
from tests.space import ROOT
from web import auth

__all__ = ["mail_servers"]  # the fixture
pytestmark = [pytest.mark.asterisk, pytest.mark.postgres]

PASSWORD = "mật-khẩu-đủ-dài"
SENDER = "Tổng đài 1022 <tongdai1022@tinh.example.vn>"
MESSAGES = 30
LOAD_SECONDS = 40.0  # the fault comes FAULT_AT seconds in; Patroni promotes within its ttl (10 s)
FAULT_AT = 6.0
WRITE_OUTAGE_BOUND = 30.0
SERIES = itertools.count(1)  # each drill's digit in its callers' and citizens' numbers


@pytest.fixture(scope="module")
def database() -> Iterator[PatroniCluster]:
    cluster = PatroniCluster(ROOT / "var" / "patroni")
    cluster.up()
    try:
        yield cluster
    finally:
        cluster.down()


@pytest.fixture(scope="module")
def nodes_site(database: PatroniCluster) -> Settings:
    return cluster_site(**{"database.url": database.url, "portal.per_address_hour": 1000})


@pytest.fixture(scope="module")
def nodes(nodes_site: Settings) -> Iterator[ClusterSandbox]:
    with running_cluster(nodes_site) as box:
        yield box


@pytest.fixture
async def hotline(
    nodes_site: Settings, nodes: ClusterSandbox, database: PatroniCluster, mail_servers: MailServers
) -> AsyncIterator[tuple[Settings, object]]:
    site = nodes_site.model_copy(
        update={
            "mail": nodes_site.mail.model_copy(
                update={
                    "host": "127.0.0.1",
                    "port": mail_servers.smtp_port,
                    "sender": "1022 <a@b.example.vn>",
                }
            )
        }
    )
    database.wait_for_primary(60)
    for member in database.members:
        if member != database.primary():
            if not database.role(member):
                database.start(member)
            database.wait_for_streaming(member, 90)
    await upgrade_async(site.database_url)
    async with services(site, web=True, grace=5.0) as running:
        await eventually(
            _holding_every_lease(running), "the center holding its leases", timeout=30, every=0.2
        )
        yield site, running


def _holding_every_lease(running: object):  # type: ignore[no-untyped-def]
    async def check() -> bool:
        held = running.center.holding()  # type: ignore[attr-defined]
        return bool(held) and all(held.values())

    return check


# -- the load ------------------------------------------------------------------------------------
@dataclass
class Load:
    forms: list[tuple[int, str]] = field(default_factory=list)  # (status, request number or "")
    steps: list[tuple[str, str, int]] = field(default_factory=list)  # (number, step, status)
    calls: list[tuple[str, CallResult]] = field(default_factory=list)
    probes: list[tuple[float, bool]] = field(default_factory=list)  # (monotonic time, a write took)

    def outage(self) -> float:
        """The longest stretch without a successful write, from the last before it to the first after."""
        longest, last_ok = 0.0, None
        for at, ok in self.probes:
            if ok:
                if last_ok is not None:
                    longest = max(longest, at - last_ok)
                last_ok = at
        return longest


async def _probe(url: str, load: Load, until: float) -> None:
    engine = make_engine(url)
    try:
        while time.monotonic() < until:
            try:
                # No timeout of its own beyond the engine's: the probe waits as the hotline's writes do.
                async with engine.begin() as conn:
                    await conn.execute(text("SELECT txid_current()"))  # a standby cannot give one
                load.probes.append((time.monotonic(), True))
            except Exception:
                load.probes.append((time.monotonic(), False))
            await asyncio.sleep(0.1)
    finally:
        await engine.dispose()


async def _forms(base: str, load: Load, until: float, series: int) -> None:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as http:
        for n in itertools.count():
            if time.monotonic() >= until:
                return
            try:
                page = await (await http.get(f"{base}/report")).text()
                form = {
                    "topic": "violation",
                    "words": f"Đèn đường hỏng trước số {n} Lê Lợi",
                    "district": "Phường Hạc Thành",
                    "phone": f"0913{series}{n:05d}",
                    "notify_by": "sms",
                    "consent": "yes",
                    **answered(page),
                }
                async with http.post(f"{base}/report", data=form) as reply:
                    body = await reply.text()
                    number = (
                        body.split('id="request-number">', 1)[1].split("<", 1)[0]
                        if reply.status == 201
                        else ""
                    )
                    load.forms.append((reply.status, number))
            except (aiohttp.ClientError, TimeoutError) as exc:
                load.forms.append((0, str(exc)[:50]))
            await asyncio.sleep(0.4)


async def _signed_in(http: aiohttp.ClientSession, base: str, name: str) -> dict[str, str]:
    form = await (await http.get(f"{base}/login")).text()
    csrf = form.split('id="login"', 1)[1].split('name="csrf" value="', 1)[1].split('"', 1)[0]
    data = {"username": name, "password": PASSWORD, "next": "/", "csrf": csrf, "code": ""}
    async with http.post(f"{base}/login", data=data, allow_redirects=False) as reply:
        assert reply.status == 303, await reply.text()
    page = await (await http.get(f"{base}/login")).text()
    return {"X-CSRF-Token": page.split('data-csrf="', 1)[1].split('"', 1)[0]}


async def _steps(base: str, token: str, district_user: str, load: Load, until: float) -> None:
    """The center forwards each request the form opened; the district accepts it."""
    done: set[str] = set()
    async with aiohttp.ClientSession(
        cookie_jar=aiohttp.CookieJar(unsafe=True), timeout=aiohttp.ClientTimeout(total=30)
    ) as district:
        headers = await _signed_in(district, base, district_user)
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as center:
            while time.monotonic() < until:
                waiting = [n for status, n in load.forms if status == 201 and n not in done]
                if not waiting:
                    await asyncio.sleep(0.2)
                    continue
                number = waiting[0]
                done.add(number)
                url = f"{base}/api/v1/requests/{number}/steps"
                for client, step, extra in (
                    (center, "forward", {"Authorization": f"Bearer {token}"}),
                    (district, "accept", headers),
                ):
                    body = {"step": step, "agency": "quan_1"} if step == "forward" else {"step": step}
                    try:
                        async with client.post(url, json=body, headers=extra) as reply:
                            load.steps.append((number, step, reply.status))
                            if reply.status != 200:
                                break
                    except (aiohttp.ClientError, TimeoutError):
                        load.steps.append((number, step, 0))
                        break


async def _calls(phone: Carrier, load: Load, until: float, series: int) -> None:
    placed = []
    for n in itertools.count():
        if time.monotonic() >= until:
            break
        caller = f"0914{series}{n:05d}"
        plan = CallPlan(caller=caller, hold_ms=3000)
        placed.append((caller, asyncio.create_task(asyncio.to_thread(phone.call, plan, 40.0))))
        await asyncio.sleep(2.0)
    for caller, task in placed:
        load.calls.append((caller, await task))


async def _drill(
    site: Settings, running: object, nodes: ClusterSandbox, fault: object, tmp_path: Path
) -> Load:
    db = running.hotline.db  # type: ignore[attr-defined]
    # Each drill its own callers, citizens and users: the database outlives a drill.
    series = next(SERIES)
    district_user = f"quan1-{time.time_ns()}"
    await auth.add_user(db, district_user, PASSWORD, "agency", agency="quan_1")
    token = await auth.add_token(db, f"drill-{time.time_ns()}", "supervisor")
    await queue_messages(db, MESSAGES, LOAD_SECONDS)
    load = Load()
    until = time.monotonic() + LOAD_SECONDS
    base = site.web.base_url.rstrip("/")
    phone = carrier(nodes, tmp_path / "carrier")
    work = [
        asyncio.create_task(_probe(site.database_url, load, until + 5)),
        asyncio.create_task(_forms(base, load, until, series)),
        asyncio.create_task(_steps(base, token, district_user, load, until)),
        asyncio.create_task(_calls(phone, load, until, series)),
    ]
    await asyncio.sleep(FAULT_AT)
    await asyncio.to_thread(fault)  # type: ignore[arg-type]
    await asyncio.gather(*work)
    return load


async def _check(site: Settings, running: object, load: Load, mail: MailServers) -> dict[str, object]:
    hotline = running.hotline  # type: ignore[attr-defined]
    await eventually(_holding_every_lease(running), "the leases taken again", timeout=60, every=0.5)
    await hotline.writer.flush(60)

    async def every_message_sent() -> bool:
        async with hotline.db() as session:
            pending = await session.scalar(
                select(func.count())
                .select_from(OutboxMessage)
                .where(OutboxMessage.status != OutboxStatus.SENT.value)
            )
        return pending == 0

    await eventually(every_message_sent, "every message sent", timeout=120, every=1.0)
    async with hotline.db() as session:
        callers = [caller for caller, _ in load.calls]
        cases = list(await session.scalars(select(Case).where(Case.caller.in_(callers))))
        kept = {
            r.number: r
            for r in await session.scalars(
                select(CitizenRequest).options(selectinload(CitizenRequest.assignments))
            )
        }
    # Every call one complete case.
    per_caller = Counter(case.caller for case in cases)
    assert sorted(per_caller) == sorted(callers), "a case for every call"
    assert set(per_caller.values()) == {1}, per_caller
    assert all(case.ended_at is not None for case in cases)
    # Every form answered 201 is kept; the others were refused with an error.
    taken = [number for status, number in load.forms if status == 201]
    assert taken and all(number in kept for number in taken)
    refused = Counter(status for status, _ in load.forms if status != 201)
    assert set(refused) <= {503, 0}, refused
    # Every step answered 200 is in the request's state.
    for number, step, status in load.steps:
        if status != 200:
            continue
        request = kept[number]
        if step == "forward":
            assert any(a.agency == "quan_1" for a in request.assignments), number
        else:
            assert request.accepted_at is not None, number
    # Every message arrived, once.
    box = mail.maildir("citizen")
    subjects = Counter(
        str(message_from_bytes(box.get_bytes(key), policy=policy.default)["Subject"])
        for key in box.iterkeys()
    )
    drill = {s: c for s, c in subjects.items() if s.startswith("drill message")}
    assert len(drill) == MESSAGES and set(drill.values()) == {1}, drill
    outage = load.outage()
    assert outage < WRITE_OUTAGE_BOUND, outage
    failed = [at for at, ok in load.probes if not ok]
    return {
        "write outage s": round(outage, 1),
        "write probes failed": f"{len(failed)} of {len(load.probes)}",
        "calls": len(callers),
        "forms kept": len(taken),
        "forms refused": dict(refused),
        "steps taken": sum(1 for *_, s in load.steps if s == 200),
        "steps refused": sum(1 for *_, s in load.steps if s != 200),
        "messages": MESSAGES,
        "case writes failed and retried": hotline.writer.failed_writes,
    }


async def test_the_primarys_machine_dies_under_load(
    hotline: tuple[Settings, object],
    database: PatroniCluster,
    nodes: ClusterSandbox,
    mail_servers: MailServers,
    tmp_path: Path,
) -> None:
    site, running = hotline
    primary = database.primary()
    promoted: list[float] = []

    def kill() -> None:
        started = time.monotonic()
        database.kill(primary)
        database.wait_for_primary(60, other_than=primary)
        promoted.append(time.monotonic() - started)

    load = await _drill(site, running, nodes, kill, tmp_path)
    figures = await _check(site, running, load, mail_servers)
    print(f"\nprimary {primary} killed: promoted after {promoted[0]:.1f} s; {figures}")
    database.start(primary)  # back as the standby, for the next drill
    await asyncio.to_thread(database.wait_for_streaming, primary, 90)


async def test_the_primary_cut_off_from_the_rest(
    hotline: tuple[Settings, object],
    database: PatroniCluster,
    nodes: ClusterSandbox,
    mail_servers: MailServers,
    tmp_path: Path,
) -> None:
    site, running = hotline
    primary = database.primary()
    other = next(m for m in database.members if m != primary)
    both_writable: list[float] = []
    demoted: list[float] = []

    def cut() -> None:
        started = time.monotonic()
        database.cut(primary)
        # Until the other is promoted and the cut one knows it is no longer primary: never both at once.
        deadline = started + 60
        while time.monotonic() < deadline:
            old = database.writable_inside(primary)
            new = database.role(other) == "primary"
            if old and new:
                both_writable.append(time.monotonic() - started)
            # Not writable: read-only, or (as Patroni demotes it) shutting down and refusing connections.
            if new and not old:
                demoted.append(time.monotonic() - started)
                return
            time.sleep(0.3)
        raise AssertionError("the cut primary was not demoted, or the other not promoted, within 60 s")

    load = await _drill(site, running, nodes, cut, tmp_path)
    assert not both_writable, f"two primaries at {both_writable}"
    figures = await _check(site, running, load, mail_servers)
    database.mend(primary)
    await asyncio.to_thread(database.wait_for_streaming, primary, 90)
    print(f"\nprimary {primary} cut off: demoted and {other} promoted within {demoted[0]:.1f} s; {figures}")
