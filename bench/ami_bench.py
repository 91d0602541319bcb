"""AMI bridge benchmark: a recorded AMI stream replayed over TCP, as fast as possible, into
(a) the bridge, with full call tracking and case writing (SQLite), timed until the last case is written;
(b) a bare panoramisk Manager with a no-op handler (the floor), timed until the last event.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from sqlalchemy import func, select

from tests.agi_peer import free_port

ROOT = Path(__file__).resolve().parent.parent
COPIES = 60


def _tone() -> bytes:
    import io

    from pydub.generators import Sine

    out = io.BytesIO()
    Sine(440).to_audio_segment(duration=1000).set_frame_rate(8000).set_channels(1).set_sample_width(2).export(
        out, format="wav"
    )
    return out.getvalue()


async def _replayer(copies: int, recordings: Path) -> tuple[asyncio.subprocess.Process, int, int]:
    """The replaying fake Asterisk, and a short WAV file at each recording its calls name (in production
    Asterisk has written them by the time the bridge looks)."""
    from bench.ami_replay import copies as make_copies
    from bench.ami_replay import load_messages, recording_paths

    tone = _tone()
    for path in recording_paths(make_copies(load_messages(), copies, recordings)):
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_bytes(tone)
    port = free_port()
    fixture = str(ROOT / "bench/fixtures/ami-stream.gz")
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bench.ami_replay",
        "serve",
        str(port),
        fixture,
        str(copies),
        str(recordings),
        cwd=ROOT,
        stdout=subprocess.PIPE,
    )
    assert proc.stdout is not None
    ready = (await proc.stdout.readline()).decode().split()
    return proc, port, int(ready[1])


async def bench_bridge(copies: int) -> tuple[int, float, int, float]:
    from hotline import settings as site_settings
    from hotline.db.engine import make_engine, sessions
    from hotline.db.models import Case
    from shell.service import Hotline

    with tempfile.TemporaryDirectory(prefix="hotline-ami-bench-") as tmp:
        proc, port, events = await _replayer(copies, Path(tmp) / "recordings")
        db = f"sqlite+aiosqlite:///{tmp}/bench.db"
        site = site_settings.load(
            ROOT / "tests/hotline.test.toml",
            overrides={"state_dir": tmp, "database.url": db, "ami.port": port, "ami.ping_seconds": 600},
        )
        bridge = Hotline.build(site)
        done = asyncio.Event()
        first = 0.0

        def on_event(event):  # type: ignore[no-untyped-def]
            nonlocal first
            first = first or time.perf_counter()
            if event.get("UserEvent") == "BenchEnd":
                done.set()

        bridge.ami.subscribe(on_event)  # after the bridge's own handling of each event
        try:
            await bridge.start()
            await asyncio.wait_for(done.wait(), 600)
            tracked = time.perf_counter() - first
            await bridge.writer.flush(timeout=600)
            seconds = time.perf_counter() - first
            engine = make_engine(db)
            async with sessions(engine)() as session:
                cases = int(await session.scalar(select(func.count()).select_from(Case)) or 0)
            await engine.dispose()
        finally:
            await bridge.stop()
            proc.terminate()
            await proc.wait()
    return events, seconds, cases, tracked


async def bench_floor(copies: int) -> tuple[int, float]:
    from panoramisk import Manager

    proc, port, events = await _replayer(copies, Path(tempfile.gettempdir()) / "hotline-ami-bench-floor")
    done = asyncio.Event()
    first = 0.0
    manager = Manager(
        loop=asyncio.get_running_loop(),
        host="127.0.0.1",
        port=port,
        username="floor",
        secret="x",
        ping_delay=600,
    )

    def on_event(_manager, event):  # type: ignore[no-untyped-def]
        nonlocal first
        first = first or time.perf_counter()
        if event.get("UserEvent") == "BenchEnd":
            done.set()

    manager.register_event("*", on_event)
    try:
        await manager.connect()
        await asyncio.wait_for(done.wait(), 600)
        seconds = time.perf_counter() - first
    finally:
        manager.close()
        proc.terminate()
        await proc.wait()
    return events, seconds


async def run(copies: int = COPIES) -> str:
    calls_per_copy = 24
    events, bridge_s, cases, tracked_s = await bench_bridge(copies)
    _, floor_s = await bench_floor(copies)
    bridge_rate, floor_rate = events / bridge_s, events / floor_s
    return "\n".join(
        [
            f"AMI: {events} recorded events ({copies} copies of {calls_per_copy} calls: answered, abandoned in the "
            "IVR and in the queue, after the menu) replayed over TCP as fast as possible",
            "",
            "| client | events | seconds | events/s | cases written | vs floor |",
            "| --- | ---: | ---: | ---: | ---: | ---: |",
            f"| bridge: tracking + case writing (SQLite) | {events} | {bridge_s:.2f} | {bridge_rate:,.0f} | {cases} | "
            f"{bridge_rate / floor_rate:.2f}x |",
            f"| bridge: until the last event is tracked (cases still being written) | {events} | {tracked_s:.2f} | "
            f"{events / tracked_s:,.0f} | - | {events / tracked_s / floor_rate:.2f}x |",
            f"| floor: panoramisk Manager, no-op handler | {events} | {floor_s:.2f} | {floor_rate:,.0f} | - | 1.00x |",
        ]
    )
