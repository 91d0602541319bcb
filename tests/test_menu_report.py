"""Where callers give up, from the cases' IVR steps: the per-node tally on its own, and the report's JSON and
CSV on a real SQLite database and a real HTTP server."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

from ami_bridge.calls import Call
from ami_bridge.case_writer import CaseWriter
from hotline import menu_steps
from hotline.db.numbers import NumberAllocator
from shell.service import with_closed_call_hooks
from tests.web_site import Site, sign_in, site

__all__ = ["site"]  # the fixture


def record(*steps: tuple[str, float, str], ended: float | None = None, start: float = 1000.0) -> str:
    out = menu_steps.Steps()
    for node, at, codes in steps:
        out.enter(node, start + at)
        for code in codes:
            out.note(code)
    if ended is not None:
        out.end(start + ended)
    return out.encode()


def test_the_tally_counts_hang_ups_where_they_happened_and_the_time_until_the_next_step() -> None:
    calls = [
        # Chose 4, then hung up in the health menu 12 s after entering it.
        (record(("welcome", 0, ""), ("main_menu", 6, ""), ("health_menu", 14, "")), 1026.0),
        # Silent once in the main menu, then chose; handed on to a queue.
        (record(("welcome", 0, ""), ("main_menu", 6, "t"), ("violation", 30, ""), ended=32), None),
        # Pressed 9 twice in the health menu and was sent to an operator.
        (record(("main_menu", 0, ""), ("health_menu", 5, "iif"), ended=25), 2000.0),
        ("garbage", 1.0),
    ]
    nodes = menu_steps.tally(calls)
    health, main = nodes["health_menu"].view(), nodes["main_menu"].view()
    assert (
        health["entered"],
        health["hung_up"],
        health["moved_on"],
        health["invalid"],
        health["failed"],
    ) == (
        2,
        1,
        1,
        2,
        1,
    )
    assert health["average_seconds"] == (12 + 20) / 2
    assert (main["entered"], main["hung_up"], main["timed_out"], main["average_seconds"]) == (3, 0, 1, 12.3)
    assert nodes["violation"].view()["moved_on"] == 1 and nodes["violation"].seconds == 2


async def write(site: Site, linkedid: str, steps: str, queue: str = "", wait: float | None = None) -> None:
    start = datetime.now(UTC) - timedelta(minutes=3)
    call = Call(linkedid=linkedid, started_at=start, caller="0912000222", did="1022")
    call.carried["ivr_steps"] = steps
    if queue:
        call.queue, call.queued_at, call.topic = queue, start + timedelta(seconds=20), queue
        call.mark("queued", queue=queue)
    call.mark("entered", did="1022")
    call.finish(start + timedelta(seconds=20 + (wait or 0)), "16 Normal Clearing")
    if queue:
        call.abandoned, call.wait_seconds = True, wait
    writer = with_closed_call_hooks(
        CaseWriter(site.hotline.db, NumberAllocator(site.hotline.db), settle_seconds=0)
    )
    await writer.write([call])


async def test_the_report_says_per_node_and_per_queue_where_callers_gave_up_as_json_and_csv(
    site: Site,
) -> None:
    now = datetime.now(UTC).timestamp()
    await write(site, "m.1", record(("main_menu", 0, ""), ("health_menu", 8, "t"), start=now - 170))
    await write(site, "m.2", record(("main_menu", 0, "i"), ("violation", 9, ""), ended=10), "violation", 45)
    await write(site, "m.3", record(("main_menu", 0, ""), ("violation", 9, ""), ended=10), "violation", 5)
    await sign_in(site, "sup")
    report = await (await site.client.get("/api/v1/reports/menu")).json()
    nodes = {n["node"]: n for n in report["per_node"]}
    assert report["calls"] == 3 and report["per_node"][0]["node"] == "main_menu"
    assert (nodes["health_menu"]["hung_up"], nodes["health_menu"]["timed_out"]) == (1, 1)
    assert (nodes["main_menu"]["moved_on"], nodes["main_menu"]["invalid"]) == (3, 1)
    (violation,) = report["abandoned_per_queue"]
    assert (violation["queue"], violation["abandoned"], violation["30-60s"], violation["0-10s"]) == (
        "violation",
        2,
        1,
        1,
    )
    reply = await site.client.get("/api/v1/reports/menu.csv")
    assert reply.status == 200 and "attachment" in reply.headers["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(await reply.text())))
    assert {(r["table"], r["key"]) for r in rows} >= {
        ("per_node", "health_menu"),
        ("abandoned_per_queue", "violation"),
    }
    assert (await site.client.get("/api/v1/reports/menu?from=2026-12-09&to=2026-12-01")).status == 400


async def test_agents_may_not_read_the_menu_report(site: Site) -> None:
    await sign_in(site, "an")
    assert (await site.client.get("/api/v1/reports/menu")).status == 403
