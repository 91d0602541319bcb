"""Requests at a province's scale: `.venv/bin/python -m bench.requests_bench [--requests 5000000]`.

Generates N requests and their calls (one case each, linked as the request's contact), with one forwarding
each to one of 40 agencies, over the three years up to today, on PostgreSQL (a database of its own on the
server at $HOTLINE_BENCH_POSTGRES, default the machine's own on 127.0.0.1:5432); then times, through the web
app's own HTTP API as its users call it:

- an agency's list of its open requests, overdue first (the busiest agency);
- the center's request list as its staff use it all day: its default (open, due soonest), a deep page,
  searches by number, phone and words, filters by ward, channel, due, agency and period, an agency's
  portal, and a month's CSV export;
- the agencies' figures for one month and for one year (a supervisor);

each against `SELECT count(*) FROM requests` on the same database in the same run. Writes its table into
docs/benchmarks.md (its own section) unless --no-write."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import os
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

from aiohttp import ClientSession, CookieJar
from aiohttp.test_utils import TestServer
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "benchmarks.md"
TITLE = "Requests at a province's scale"
SERVER = "postgresql+asyncpg://postgres@127.0.0.1:5432"
DATABASE = os.environ.get("HOTLINE_BENCH_DATABASE", "hotline_bench_requests")
AGENCIES = 40
PROVINCE = "38"  # Thanh Hóa, as the test settings: the requests are placed in its wards
DAYS = 3 * 365
PASSWORD = "mật-khẩu-đo-đạc-dài"
TOPICS = ("violation", "suggestion", "welfare", "health", "health.testing", "health.vaccination")
# The citizens' words and names are made of these, so a search by words finds what a province's would: a
# common problem in thousands of requests, a street in fewer, a name and street together in a handful.
PROBLEMS = (
    "Đèn đường không sáng",
    "Rác thải tồn đọng",
    "Ống nước bị vỡ",
    "Ổ gà trên mặt đường",
    "Cây đổ chắn lối",
    "Lấn chiếm vỉa hè",
    "Tiếng ồn karaoke ban đêm",
    "Xả thải ra kênh",
    "Cống thoát nước bị tắc",
    "Biển báo giao thông bị đổ",
    "Đề nghị hỗ trợ người cao tuổi",
    "Hỏi về tiêm chủng cho trẻ",
    "Xây dựng không phép",
    "Ngập nước sau mưa",
    "Chó thả rông không rọ mõm",
    "Đường dây điện võng thấp",
    "Quán ăn mất vệ sinh",
    "Bãi đỗ xe trái phép",
    "Khói bụi từ xưởng gỗ",
    "Hỏi thủ tục trợ cấp xã hội",
    "Trường học thu phí sai quy định",
    "Cầu dân sinh xuống cấp",
    "Đề nghị lắp camera an ninh",
)
STREETS = tuple(
    f"{kind} {name}"
    for kind in ("đường", "phố", "ngõ")
    for name in (
        "Lê Lợi",
        "Trần Phú",
        "Bà Triệu",
        "Hàm Rồng",
        "Nguyễn Trãi",
        "Lê Hoàn",
        "Quang Trung",
        "Hạc Thành",
        "Phan Chu Trinh",
        "Đội Cung",
        "Tống Duy Tân",
        "Lạc Long Quân",
        "Bến Ngự",
    )
)
FAMILIES = ("Nguyễn", "Trần", "Lê", "Phạm", "Hoàng", "Vũ", "Đỗ", "Bùi", "Đặng", "Ngô", "Dương")
GIVENS = tuple(
    f"{middle} {given}"
    for middle in ("Văn", "Thị", "Đức", "Minh", "Ngọc")
    for given in (
        "An",
        "Bình",
        "Châu",
        "Dũng",
        "Giang",
        "Hà",
        "Hùng",
        "Khánh",
        "Lan",
        "Long",
        "Mai",
        "Nam",
        "Oanh",
        "Phúc",
        "Quân",
        "Sơn",
        "Tâm",
        "Thảo",
        "Uyên",
        "Vinh",
        "Xuân",
        "Yến",
    )
)

# One statement per table, each row made from its index i by arithmetic (no Python in the loop):
# created_at spreads the N requests evenly over DAYS days up to now; requests older than 30 days are mostly
# closed (answered on time, some late), 2 % rejected and 1 % still open (overdue); newer ones are a mix.
# The busiest agencies get the most: agency k takes a share that falls with k.
GENERATE = [
    """
    INSERT INTO cases (id, number, linkedid, caller, caller_name, did, started_at, ended_at, ivr_path, ivr_node,
        ivr_result, topic, queue, agent, agent_name, recording, voicemail, outcome, hangup_cause, category,
        notes, status, wait_seconds, talk_seconds, answered_at)
    SELECT i, 'C' || i, 'bench.' || i, '09' || lpad((i % 100000000)::text, 8, '0'), '', '1022',
        now() - make_interval(secs => (:n - i)::float8 * :span / :n) - interval '10 minutes',
        now() - make_interval(secs => (:n - i)::float8 * :span / :n) - interval '5 minutes',
        '1', 'main_menu', 'queued', t.topic, split_part(t.topic, '.', 1), '101', 'Nguyễn Văn An',
        '', '', 'answered', '16', '', '', 'resolved', 12, 240,
        now() - make_interval(secs => (:n - i)::float8 * :span / :n) - interval '9 minutes'
    FROM generate_series(1, :n) AS i
    CROSS JOIN LATERAL (SELECT (ARRAY[{topics}])[1 + (i % {ntopics})] AS topic) AS t
    """,
    """
    INSERT INTO requests (id, number, status, topic, priority, words, contact_phone, contact_name, contact_email,
        address, district, agency, instructions, answer, remark, reason, created_at, created_by, forwarded_at,
        accept_due_at, accepted_at, answer_due_at, answered_at, closed_at, extension_reason,
        extension_decision, reopened, due_at, rating, public, public_question, channel, ward_code, ward_basis)
    SELECT i, lpad(i::text, 8, '0'), s.status, c.topic, 'normal',
        (ARRAY[{problems}])[1 + i % {nproblems}] || ' tại ' || (ARRAY[{streets}])[1 + (i / 7) % {nstreets}]
            || ', số ' || (1 + i % 199),
        c.caller,
        (ARRAY[{families}])[1 + i % {nfamilies}] || ' ' || (ARRAY[{givens}])[1 + (i / 11) % {ngivens}],
        '', '', '',
        CASE WHEN s.status = 'rejected' THEN '' ELSE 'agency_' || s.agency END, '',
        CASE WHEN s.status IN ('answered', 'closed') THEN 'Đã xử lý' ELSE '' END, '',
        CASE WHEN s.status = 'rejected' THEN 'Không thuộc phạm vi' ELSE '' END,
        c.started_at, 'canbo101',
        s.fwd, s.fwd + interval '1 day', CASE WHEN s.status <> 'forwarded' THEN s.fwd + interval '2 hours' END,
        s.fwd + interval '10 days', s.answered, CASE WHEN s.status = 'closed' THEN s.answered + interval '1 hour' END,
        '', '', 0,
        CASE s.status WHEN 'forwarded' THEN s.fwd + interval '1 day' WHEN 'accepted' THEN s.fwd + interval '10 days'
        END,
        CASE WHEN s.status = 'closed' AND i % 3 = 0 THEN 1 + (i % 5) END, s.status = 'closed' AND i % 97 = 0,
        CASE WHEN s.status = 'closed' AND i % 97 = 0 THEN 'Câu hỏi ' || i ELSE '' END,
        CASE WHEN i % 100 < 60 THEN 'call' WHEN i % 100 < 75 THEN 'web' WHEN i % 100 < 80 THEN 'email'
            WHEN i % 100 < 85 THEN 'sms' WHEN i % 100 < 93 THEN 'zalo' WHEN i % 100 < 97 THEN 'facebook'
            WHEN i % 100 < 99 THEN 'center' ELSE 'open311' END,
        (CAST(:wards AS text[]))[1 + floor(power((i * 40503 % 65537) / 65537.0, 1.5) * {nwards})::int],
        'said'
    FROM cases AS c
    CROSS JOIN LATERAL (SELECT c.id AS i) AS ids
    CROSS JOIN LATERAL (
        SELECT st.status, st.agency, c.started_at + interval '30 minutes' AS fwd,
            CASE WHEN st.status IN ('answered', 'closed')
                THEN c.started_at + interval '30 minutes'
                    + make_interval(days => (CASE WHEN i % 7 = 0 THEN 12 ELSE 1 + i % 8 END)::int)
            END AS answered
        FROM (SELECT
            CASE
                WHEN c.started_at < now() - interval '30 days' THEN
                    CASE WHEN i % 100 < 2 THEN 'rejected' WHEN i % 100 = 2 THEN 'accepted' ELSE 'closed' END
                ELSE (ARRAY['received', 'forwarded', 'accepted', 'answered', 'closed', 'closed'])[1 + i % 6]
            END AS status,
            floor(power((i * 2654435761 % 1000003) / 1000003.0, 2) * {agencies})::int AS agency
        ) AS st
    ) AS s
    WHERE c.id <= :n
    """,
    """
    INSERT INTO request_contacts (request_id, case_id, channel, at, note)
    SELECT id, id, channel, created_at, '' FROM requests
    """,
    """
    INSERT INTO request_assignments (request_id, agency, topic, priority, forwarded_at, accept_due_at,
        answer_due_at, accepted_at, answered_at, ended_at, "end", rating)
    SELECT id, agency, topic, priority, forwarded_at, accept_due_at, answer_due_at, accepted_at, answered_at,
        closed_at, CASE WHEN status = 'closed' THEN 'approved' ELSE '' END, rating
    FROM requests WHERE status NOT IN ('received', 'rejected')
    """,
]


def _quoted(words: tuple[str, ...]) -> str:
    return ", ".join("'" + w.replace("'", "''") + "'" for w in words)


def _vocabulary() -> dict[str, Any]:
    lists = {"problems": PROBLEMS, "streets": STREETS, "families": FAMILIES, "givens": GIVENS}
    return {name: _quoted(words) for name, words in lists.items()} | {
        f"n{name}": len(words) for name, words in lists.items()
    }


async def _generate(engine: AsyncEngine, n: int, wards: list[str]) -> dict[str, float]:
    span = DAYS * 86400
    took: dict[str, float] = {}
    topics = ", ".join(f"'{t}'" for t in TOPICS)
    for sql, table in zip(
        GENERATE, ("cases", "requests", "request_contacts", "request_assignments"), strict=True
    ):
        started = time.monotonic()
        statement = text(
            sql.format(
                topics=topics, ntopics=len(TOPICS), agencies=AGENCIES, nwards=len(wards), **_vocabulary()
            )
        )
        values: dict[str, Any] = {"n": n, "span": span} if ":n" in sql else {}
        if ":wards" in sql:
            values["wards"] = wards
        async with engine.begin() as conn:
            await conn.execute(statement, values)
        took[table] = time.monotonic() - started
        print(f"  {table}: {took[table]:.0f} s", flush=True)
    async with engine.connect() as conn:
        conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
        for table in ("cases", "requests", "request_contacts", "request_assignments"):
            await conn.execute(text(f"VACUUM ANALYZE {table}"))
        for table in ("cases", "requests"):  # the ids were given: the sequences go on after them
            await conn.execute(text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), {n})"))
    return took


def _list_rows(today: date, busiest: str, ward: str, phone: str) -> list[tuple[str, str, str, float]]:
    """The center's list as its staff use it all day (the HTML page: its query, its count to 10,000 and
    the page drawn): (what, path, who, target p95 in seconds)."""
    month = f"from={(today - timedelta(days=30)).isoformat()}&to={today.isoformat()}"
    spaced = f"{phone[:4]} {phone[4:7]} {phone[7:]}"
    return [
        ("list: the center's open requests, due soonest (page 1, counted)", "/requests", "giamsat", 0.5),
        ("list: the same, page 40", "/requests?page=40", "giamsat", 0.5),
        ("list: every request, newest first", "/requests?status=all&sort=newest", "giamsat", 0.5),
        ("list: by request number", f"/requests?q={n_of(1234567)}&status=all", "giamsat", 0.3),
        ("list: by phone, written with spaces", f"/requests?q={quote(spaced)}&status=all", "giamsat", 0.3),
        (
            "list: words, a common problem, a year",
            f"/requests?q={quote('đèn đường')}&status=all",
            "giamsat",
            1.0,
        ),
        (
            "list: words, a name and a street, a year",
            f"/requests?q={quote('Bùi Thị Lan')}&status=all",
            "giamsat",
            1.0,
        ),
        ("list: one ward, every status, newest", f"/requests?ward={ward}&status=all", "giamsat", 0.5),
        (
            "list: a rare channel (Open311), every status",
            "/requests?channel=open311&status=all",
            "giamsat",
            0.5,
        ),
        ("list: overdue", "/requests?due=overdue", "giamsat", 0.5),
        (
            "list: one agency's closed requests, a month",
            f"/requests?agency={busiest}&status=closed&{month}",
            "giamsat",
            0.5,
        ),
        ("list: an agency's portal, its open requests", "/requests", "coquan", 0.5),
        ("list: a month exported as CSV", f"/requests.csv?status=all&{month}", "giamsat", 10.0),
    ]


def n_of(i: int) -> str:
    return str(i).rjust(8, "0")


async def _timed(work: Callable[[], Awaitable[Any]], runs: int) -> list[float]:
    await work()  # warm: the first run reads the pages into memory
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        await work()
        times.append(time.perf_counter() - started)
    return times


def _p95(times: list[float]) -> float:
    return statistics.quantiles(times, n=20)[-1] if len(times) >= 2 else times[0]


async def run(n: int, runs: int, fresh: bool, only: str = "") -> str:
    from hotline import settings as site_settings
    from hotline.db.migrate import upgrade_async
    from hotline.places.index import known_codes
    from shell.service import Hotline
    from tests.conftest import TEST_SETTINGS
    from tests.web_site import post_login
    from web import auth
    from web.app import build_app

    admin = create_async_engine(f"{SERVER}/postgres", isolation_level="AUTOCOMMIT")
    async with admin.connect() as conn:
        exists = await conn.scalar(text("SELECT 1 FROM pg_database WHERE datname = :d"), {"d": DATABASE})
        if exists and fresh:
            await conn.execute(text(f"DROP DATABASE {DATABASE} WITH (FORCE)"))
            exists = None
        if not exists:
            await conn.execute(text(f"CREATE DATABASE {DATABASE}"))
    await admin.dispose()
    url = f"{SERVER}/{DATABASE}"
    await upgrade_async(url)
    engine = create_async_engine(url)
    async with engine.connect() as conn:
        have = int(await conn.scalar(text("SELECT count(*) FROM requests")) or 0)
    generated: dict[str, float] = {}
    wards = sorted(known_codes()[PROVINCE])
    if have != n:
        if have:
            raise SystemExit(f"{DATABASE} holds {have} requests, not {n}: run with --fresh")
        print(f"generating {n} requests and their calls on PostgreSQL", flush=True)
        generated = await _generate(engine, n, wards)
    async with engine.connect() as conn:
        busiest, open_count = (
            await conn.execute(
                text(
                    "SELECT agency, count(*) FROM requests WHERE status IN ('forwarded', 'accepted', 'answered') "
                    "GROUP BY agency ORDER BY count(*) DESC LIMIT 1"
                )
            )
        ).one()
        assignments = int(await conn.scalar(text("SELECT count(*) FROM request_assignments")) or 0)
        top_ward = await conn.scalar(
            text("SELECT ward_code FROM requests GROUP BY ward_code ORDER BY count(*) DESC LIMIT 1")
        )
        rare_phone = await conn.scalar(
            text("SELECT contact_phone FROM requests WHERE id = :i"), {"i": n // 3}
        )

    agencies = [{"name": f"agency_{k}", "label": f"Cơ quan {k}"} for k in range(AGENCIES)]
    with tempfile.TemporaryDirectory() as state:
        settings = site_settings.load(
            TEST_SETTINGS,
            overrides={"database.url": url, "state_dir": state, "agencies": agencies},
        )
        bridge = Hotline.build(settings)
        for name, role, agency in (("giamsat", "supervisor", ""), ("coquan", "agency", busiest)):
            with contextlib.suppress(auth.AuthError):  # made by an earlier run on this database
                await auth.add_user(bridge.db, name, PASSWORD, role, agency=agency)
        server = TestServer(build_app(settings, bridge))
        await server.start_server()
        users: dict[str, ClientSession] = {}
        try:
            for name in ("giamsat", "coquan"):
                users[name] = ClientSession(
                    base_url=str(server.make_url("")), cookie_jar=CookieJar(unsafe=True)
                )
                signed = await post_login(users[name], name, PASSWORD)
                assert signed.status == 303, await signed.text()

            async def get(path: str, who: str) -> None:
                reply = await users[who].get(path)
                assert reply.status == 200, (path, reply.status, await reply.text())
                await reply.read()

            async def count() -> None:
                async with engine.connect() as conn:
                    await conn.scalar(text("SELECT count(*) FROM requests"))

            today = datetime.now(UTC).date()
            month = f"from={(today - timedelta(days=30)).isoformat()}&to={today.isoformat()}"
            year = f"from={(today - timedelta(days=364)).isoformat()}&to={today.isoformat()}"
            work: list[tuple[str, Callable[[], Awaitable[Any]], float | None]] = [
                (
                    f"an agency's open requests, overdue first (200 of {open_count})",
                    functools.partial(get, "/api/v1/requests", "coquan"),
                    0.3,
                ),
                *[
                    (name, functools.partial(get, path, who), target)
                    for name, path, who, target in _list_rows(today, busiest, top_ward, rare_phone)
                ],
                (
                    "figures per agency and topic, one month",
                    functools.partial(get, f"/api/v1/reports/requests?{month}", "giamsat"),
                    1.0,
                ),
                (
                    "figures per agency and topic, one year",
                    functools.partial(get, f"/api/v1/reports/requests?{year}", "giamsat"),
                    3.0,
                ),
            ]
            rows = [("SELECT count(*) FROM requests (baseline)", await _timed(count, runs), None)]
            for name, timed, target in work:
                if only in name:
                    rows.append((name, await _timed(timed, runs), target))
        finally:
            for http in users.values():
                await http.close()
            await server.close()
            await bridge.engine.dispose()
    await engine.dispose()
    base = statistics.median(rows[0][1])
    lines = [
        f"PostgreSQL: {n:,} requests and their {n:,} calls (one case each), {assignments:,} forwardings to "
        f"{AGENCIES} agencies over {DAYS // 365} years; {runs} runs each through the web app's HTTP API, after "
        "one warm-up"
        + (
            "; generated in " + ", ".join(f"{t} {s:.0f} s" for t, s in generated.items())
            if generated
            else " (the database from an earlier run)"
        ),
        "",
        "| query | p50 ms | p95 ms | target p95 | p50 vs baseline |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for name, times, target in rows:
        p50, p95 = statistics.median(times), _p95(times)
        verdict = "" if target is None else f"{target * 1000:.0f} ms {'met' if p95 <= target else 'MISSED'}"
        lines.append(f"| {name} | {p50 * 1000:.1f} | {p95 * 1000:.1f} | {verdict} | {p50 / base:.1f}x |")
    return "\n".join(lines)


def kept_section() -> str:
    """This benchmark's section as docs/benchmarks.md has it ("" if none): bench.run keeps it."""
    doc = DOC.read_text(encoding="utf-8") if DOC.exists() else ""
    head = f"\n## {TITLE}\n"
    if head not in doc:
        return ""
    return head + doc.split(head, 1)[1].split("\n## ", 1)[0].rstrip("\n") + "\n"


def write_section(table: str) -> None:
    """This benchmark's section of docs/benchmarks.md, replaced in place (the others are bench.run's)."""
    doc = DOC.read_text(encoding="utf-8") if DOC.exists() else "# Benchmarks\n"
    head = f"\n## {TITLE}\n"
    section = f"{head}\nMade by `.venv/bin/python -m bench.requests_bench` on {time.strftime('%Y-%m-%d')}.\n\n{table}\n"
    if head in doc:
        before, rest = doc.split(head, 1)
        after = rest.split("\n## ", 1)
        doc = before + section + ("\n## " + after[1] if len(after) > 1 else "")
    else:
        doc = doc.rstrip("\n") + "\n" + section
    DOC.write_text(doc, encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=5_000_000)
    parser.add_argument("--runs", type=int, default=40)
    parser.add_argument(
        "--fresh", action="store_true", help="drop the benchmark's database and generate anew"
    )
    parser.add_argument("--no-write", action="store_true")
    parser.add_argument(
        "--only", default="", help="time only the queries whose name holds this (and the baseline)"
    )
    args = parser.parse_args()
    table = asyncio.run(run(args.requests, args.runs, args.fresh, args.only))
    print(table)
    if not args.no_write and not args.only:
        write_section(table)
        print(f"wrote {DOC}")


if __name__ == "__main__":
    main()
