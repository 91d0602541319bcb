"""FastAGI benchmark: a load generator speaks Asterisk's side of FastAGI and runs the hotline flow
(caller presses 1, hears the case number, is queued) at several concurrency levels, against
  (a) the project's server, (b) a bare panoramisk Application with an echo route of as many commands
  (the floor), (c) the classic pyst2 script started once per call.
Server CPU is read from /proc for the server's process alone; latency is the time from Asterisk's answer
to the server's next command, as Asterisk would see it.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tests.agi_peer import KeyScript, environment, free_port, run_session

ROOT = Path(__file__).resolve().parent.parent
KEYS: list[str | None] = ["1", None]  # violation report, no readback repeat
MEDIA_SECONDS = 1.0  # a short prompt; real ones last 2 to 25 s, so real load is lighter
ROUNDS = 2  # calls per concurrent slot


@dataclass
class Row:
    server: str
    concurrency: int
    calls: int
    commands: int
    cpu_s: float
    latencies: list[float]
    wall_s: float

    @property
    def cpu_us_per_command(self) -> float:
        return self.cpu_s / self.commands * 1e6

    @property
    def cpu_ms_per_call(self) -> float:
        return self.cpu_s / self.calls * 1e3

    def pct(self, p: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))] * 1e3


def _cpu_seconds(pid: int) -> float:
    """CPU time of every thread of the process, in ns from the scheduler (stat's ticks are 10 ms)."""
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(FileNotFoundError, ProcessLookupError):  # a thread that just ended
            total += int((task / "schedstat").read_text().split()[0])
    return total / 1e9


def _raise_fd_limit() -> None:
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


async def _load(port: int, concurrency: int, calls: int, media: float) -> tuple[int, list[float], float]:
    sem = asyncio.Semaphore(concurrency)
    latencies: list[float] = []
    commands = 0

    async def one(i: int) -> None:
        nonlocal commands
        async with sem:
            if media and i < concurrency:
                await asyncio.sleep(random.uniform(0, media))  # calls arrive spread out, not in one burst
            env = environment(linkedid=f"bench-{os.getpid()}-{time.monotonic_ns()}-{i}")
            result = await run_session("127.0.0.1", port, env, KeyScript(list(KEYS)), media_seconds=media)
            commands += len(result.commands)
            latencies.extend(result.latencies)

    started = time.perf_counter()
    await asyncio.gather(*(one(i) for i in range(calls)))
    return commands, latencies, time.perf_counter() - started


@contextlib.contextmanager
def _server(kind: str, arg: str) -> Iterator[tuple[subprocess.Popen[str], int]]:
    """A benchmark server in its own process (its CPU read alone), ready to take calls."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "bench.agi_servers", kind, str(port), arg],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        if proc.stdout.readline().strip() != "ready":
            raise RuntimeError(f"{kind} server did not start")
        yield proc, port
    finally:
        proc.terminate()
        proc.wait()


async def bench_server(kind: str, arg: str, levels: list[int], min_calls: int) -> list[Row]:
    with _server(kind, arg) as (proc, port):
        await _load(port, 10, 50, 0.0)  # warm up imports, caches, the database file
        rows = []
        for level in levels:
            # One call at a time: back to back, the pure cost of a command. Many at a time: each prompt
            # takes MEDIA_SECONDS to play, so that `level` calls are in progress together.
            media = 0.0 if level == 1 else MEDIA_SECONDS
            calls = min_calls if level == 1 else level * ROUNDS
            before = _cpu_seconds(proc.pid)
            commands, latencies, wall = await _load(port, level, calls, media)
            rows.append(Row(kind, level, calls, commands, _cpu_seconds(proc.pid) - before, latencies, wall))
        return rows


async def _record_one_call(database_url: str) -> list[str]:
    with _server("project", database_url) as (_, port):
        result = await run_session("127.0.0.1", port, environment(linkedid="record-1"), KeyScript(list(KEYS)))
        return result.commands


async def bench_classic(concurrency: int, calls: int, database_url: str) -> Row:
    """Asterisk's classic AGI: a new process per call, AGI over its stdin and stdout."""
    script = str(ROOT / ".venv" / "bin" / "hotline-agi")
    env = {
        **os.environ,
        "HOTLINE_SETTINGS": str(ROOT / "tests/hotline.test.toml"),
        "HOTLINE_DATABASE_URL": database_url,
    }
    sem = asyncio.Semaphore(concurrency)
    latencies: list[float] = []
    commands = 0

    async def one(i: int) -> None:
        nonlocal commands
        async with sem:
            proc = await asyncio.create_subprocess_exec(
                script, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env
            )
            assert proc.stdin is not None and proc.stdout is not None
            respond = KeyScript(list(KEYS))
            loop = asyncio.get_running_loop()
            proc.stdin.write(environment(linkedid=f"classic-{os.getpid()}-{i}"))
            await proc.stdin.drain()
            answered = loop.time()
            while line := await proc.stdout.readline():
                latencies.append(loop.time() - answered)
                commands += 1
                proc.stdin.write(respond(line.decode().rstrip("\n")).encode() + b"\n")
                await proc.stdin.drain()
                answered = loop.time()
            await proc.wait()

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    await asyncio.gather(*(one(i) for i in range(calls)))
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return Row("classic", concurrency, calls, commands, cpu, latencies, wall)


async def run(levels: list[int], min_calls: int, classic_calls: int) -> tuple[list[Row], str]:
    _raise_fd_limit()
    with tempfile.TemporaryDirectory(prefix="hotline-bench-") as tmp:
        db = f"sqlite+aiosqlite:///{tmp}/bench.db"
        project_rows = await bench_server("project", db, levels, min_calls)
        # The floor sends exactly the commands of one hotline call, recorded from the project's server.
        one_call = await _record_one_call(db)
        commands_file = Path(tmp) / "commands.txt"
        commands_file.write_text("\n".join(one_call), encoding="utf-8")
        per_call = len(one_call)
        floor_rows = await bench_server("floor", str(commands_file), levels, min_calls)
        classic = await bench_classic(1, classic_calls, db)
    rows = [r for pair in zip(project_rows, floor_rows, strict=True) for r in pair] + [classic]
    return rows, table(project_rows, floor_rows, classic, per_call)


def table(project: list[Row], floor: list[Row], classic: Row, per_call: int) -> str:
    lines = [
        f"FastAGI: the hotline flow, {per_call} AGI commands per call "
        "(caller presses 1, hears the case number, is queued)",
        "",
        "| server | concurrent calls | calls | CPU µs/command | CPU ms/call | p50 ms | p99 ms "
        "| CPU vs floor |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for p, f in zip(project, floor, strict=True):
        for row, ratio in ((p, p.cpu_us_per_command / f.cpu_us_per_command), (f, 1.0)):
            lines.append(
                f"| {row.server} | {row.concurrency} | {row.calls} | {row.cpu_us_per_command:.1f} | "
                f"{row.cpu_ms_per_call:.2f} | {row.pct(50):.2f} | {row.pct(99):.2f} | {ratio:.2f}x |"
            )
    lines.append(
        f"| classic (pyst2, process per call) | {classic.concurrency} | {classic.calls} | "
        f"{classic.cpu_us_per_command:.1f} | {classic.cpu_ms_per_call:.2f} | {classic.pct(50):.2f} | "
        f"{classic.pct(99):.2f} | {classic.cpu_us_per_command / floor[0].cpu_us_per_command:.1f}x |"
    )
    median_project = statistics.median(r.cpu_ms_per_call for r in project)
    lines += [
        "",
        f"Classic script CPU per call / project server CPU per call: "
        f"{classic.cpu_ms_per_call / median_project:.0f}x (median over the levels)",
    ]
    return "\n".join(lines)
