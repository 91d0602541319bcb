"""Prometheus metrics at /metrics, read from the live board and today's counters when scraped."""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Iterator

from aiohttp import web
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from ami_bridge.calls import CallState
from ami_bridge.live import AgentStatus
from ami_bridge.message import SUSPECTS
from hotline import loop_watch
from hotline.db.models import Role
from web.context import Context
from web.routing import RouteTable

routes = RouteTable()


class BoardCollector(Collector):
    def __init__(self, context: Context) -> None:
        self.context = context

    def collect(self) -> Iterator[Metric]:
        c = self.context
        c.board.refresh()
        snap = c.board.snapshot()
        waiting = GaugeMetricFamily(
            "hotline_queue_waiting_callers", "Callers waiting in the queue", labels=["queue"]
        )
        longest = GaugeMetricFamily(
            "hotline_queue_longest_wait_seconds", "Longest current wait", labels=["queue"]
        )
        members = GaugeMetricFamily(
            "hotline_queue_members", "Agents logged in to the queue", labels=["queue"]
        )
        for q in snap["queues"]:
            waiting.add_metric([q["name"]], len(q["waiting"]))
            longest.add_metric([q["name"]], q["longest_wait"])
            members.add_metric([q["name"]], len(q["members"]))
        agents = GaugeMetricFamily("hotline_agents", "Agents by state", labels=["state"])
        for state in AgentStatus:
            agents.add_metric([state.value], sum(1 for a in snap["agents"] if a["state"] == state))
        calls = GaugeMetricFamily("hotline_live_calls", "Calls in the hotline now", labels=["state"])
        for call_state in (s for s in CallState if s is not CallState.ENDED):
            calls.add_metric([call_state.value], sum(1 for x in snap["calls"] if x["state"] == call_state))
        today = GaugeMetricFamily(
            "hotline_queue_calls_today", "Calls offered/answered/abandoned today", labels=["queue", "kind"]
        )
        for name, view in c.today.view().items():
            for kind in ("offered", "answered", "abandoned"):
                today.add_metric([name, kind], view[kind])
        written = GaugeMetricFamily("hotline_cases_written", "Case writes by this process since start")
        written.add_metric([], c.writer.written)
        yield from self.store_health()
        ami = GaugeMetricFamily("hotline_ami_connected", "1 when the bridge is connected to Asterisk")
        ami.add_metric([], 1 if c.ami.connected.is_set() else 0)
        nodes = GaugeMetricFamily(
            "hotline_node_up", "With several nodes: 1 while the center follows the node", labels=["node"]
        )
        lost = GaugeMetricFamily(
            "hotline_node_lost", "1 when the node was lost and has not come back", labels=["node"]
        )
        for node in snap["nodes"]:
            nodes.add_metric([node["name"]], 1 if node["state"] == "up" else 0)
            lost.add_metric([node["name"]], 1 if node["state"] == "lost" else 0)
        leases = GaugeMetricFamily(
            "hotline_lease_held",
            "With several centers: 1 while this center runs the background work of the lease",
            labels=["lease"],
        )
        for name, held in c.leases().items():
            leases.add_metric([name], 1 if held else 0)
        yield from (waiting, longest, members, agents, calls, today, written, ami, nodes, lost, leases)

    def store_health(self) -> Iterator[Metric]:
        """What could make a case late or lost: the writer's backlog and failures, dead letters, the
        journal, recordings that should exist and do not, and the free space left for them."""
        writer = self.context.writer
        gauges = (
            ("hotline_case_backlog", "Calls whose newest state is not in the database yet", writer.backlog),
            ("hotline_dead_letters", "Calls the database refused, waiting for a fix", len(writer.dead)),
        )
        for name, text, value in gauges:
            gauge = GaugeMetricFamily(name, text)
            gauge.add_metric([], value)
            yield gauge
        journal = writer.journal
        counters = (
            (
                "hotline_case_write_failures",
                "Case batches the database did not take (each retried)",
                writer.failed_writes,
            ),
            ("hotline_cases_dead_lettered", "Calls parked as dead letters", writer.dead_lettered),
            (
                "hotline_ami_suspect_messages",
                "AMI messages with a repeated header: a caller ID carrying a line break",
                SUSPECTS.count,
            ),
            (
                "hotline_recordings_missing",
                "Answered calls with no usable recording",
                writer.missing_recordings,
            ),
            (
                "hotline_journal_errors",
                "Appends to the case journal that failed (disk full?)",
                journal.errors if journal else 0,
            ),
        )
        for name, text, value in counters:
            counter = CounterMetricFamily(name, text)
            counter.add_metric([], value)
            yield counter
        stall = GaugeMetricFamily("hotline_event_loop_worst_stall_seconds", "Longest stall of the event loop")
        stall.add_metric([], loop_watch.WATCH.worst)
        stalls = CounterMetricFamily(
            "hotline_event_loop_long_stalls", "Stalls of the event loop of 100 ms or more"
        )
        stalls.add_metric([], loop_watch.WATCH.long_stalls)
        yield from (stall, stalls)
        free = GaugeMetricFamily(
            "hotline_disk_free_bytes", "Free space where the hotline keeps files", labels=["path"]
        )
        settings = self.context.settings
        for label, path in (("recordings", settings.recordings_path), ("state", settings.state_path)):
            with contextlib.suppress(OSError):
                free.add_metric([label], shutil.disk_usage(path).free)
        yield free


REGISTRY = web.AppKey("metrics_registry", CollectorRegistry)


def registry(app: web.Application, context: Context) -> None:
    """Called once when the app is built: the collector reads the live board at every scrape."""
    app[REGISTRY] = CollectorRegistry()
    app[REGISTRY].register(BoardCollector(context))


@routes.route("GET", "/metrics", Role.SUPERVISOR, "Prometheus metrics (scrape with a bearer token)", api=True)
async def metrics(request: web.Request) -> web.StreamResponse:
    body = generate_latest(request.app[REGISTRY])
    return web.Response(body=body, content_type="text/plain", charset="utf-8")
