"""Hostile uploads while calls go through the IVR: the web app and the FastAGI server on one event loop, as
in `hotline serve`. Each run places the same IVR calls; during the loaded runs, 10 clients post the public
form at once, each with 5 images: 40 M-pixel PNGs of 167 kB (refused from their header) and 48 M-pixel
JPEGs (decoded at a reduced scale and kept). Reports the IVR's command latency (p50, p99, ratio to the
baseline run with no upload) and the peak memory of the serving process and of the file worker.

The last run checks the files as the hotline did before (Pillow in threads of the serving process) for
comparison. Run: `.venv/bin/python -m bench.upload_bench`."""

from __future__ import annotations

import argparse
import asyncio
import io
import os
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

from aiohttp.test_utils import TestServer
from PIL import Image

from agi_scripts.ivr_app import build_server
from casework import attachments, file_worker
from hotline import settings as site_settings
from hotline.db.migrate import upgrade_async
from shell.service import Hotline
from tests.agi_peer import free_port
from tests.conftest import TEST_SETTINGS
from tests.helpers.loop_load import ivr_latencies
from web.app import build_app

ROOT = Path(__file__).resolve().parent.parent
SUBMISSIONS = 10
IMAGES = 5
MEMORY_CEILING_MB = 400  # the serving process's peak, stated in docs/benchmarks.md


def _bomb_png() -> bytes:
    out = io.BytesIO()
    Image.new("1", (8000, 5000)).save(out, "PNG")  # 167 kB, 40 M pixels
    return out.getvalue()


def _big_jpeg() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (8000, 6000), (30, 120, 200)).save(out, "JPEG", quality=40)  # 48 M pixels
    return out.getvalue()


def _rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


class Peaks:
    """The highest resident memory of this process and of the file worker, sampled every 20 ms."""

    def __init__(self) -> None:
        self.serving = self.worker = 0.0

    async def watch(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            self.serving = max(self.serving, _rss_mb(os.getpid()))
            pool = file_worker.WORKER._pool
            for process in list(getattr(pool, "_processes", {}).values()) if pool else []:
                self.worker = max(self.worker, _rss_mb(process.pid))
            await asyncio.sleep(0.02)


@asynccontextmanager
async def _hotline(folder: Path) -> AsyncIterator[tuple[str, int]]:
    url = f"sqlite+aiosqlite:///{folder}/upload.db"
    settings = site_settings.load(
        TEST_SETTINGS,
        overrides={
            "database.url": url,
            "state_dir": str(folder / "state"),
            "portal.per_address_hour": 10_000,
            "portal.per_contact_hour": 1000,
        },
    )
    await upgrade_async(url)
    bridge = Hotline.build(settings)
    web_server = TestServer(build_app(settings, bridge), port=free_port())
    await web_server.start_server()
    agi = build_server(settings)
    agi_port = free_port()
    await agi.start("127.0.0.1", agi_port)
    try:
        yield str(web_server.make_url("")).rstrip("/"), agi_port
    finally:
        await agi.close()
        await web_server.close()
        await bridge.engine.dispose()


UPLOADS = """
import asyncio, sys
from pathlib import Path
from aiohttp import ClientSession, FormData
from tests.helpers.portal import solve

base, count, files = sys.argv[1], int(sys.argv[2]), sys.argv[3:]

async def submit(n):
    async with ClientSession() as http:
        page = await (await http.get(base + "/report")).text()
        token = page.split('name="challenge_token" value="', 1)[1].split('"', 1)[0]
        question = page.split("Câu hỏi kiểm tra: ", 1)[1].split("<input", 1)[0].strip()
        form = FormData()
        fields = {"topic": "violation", "words": "Lấn chiếm vỉa hè", "phone": f"09120{n:05d}",
                  "notify_by": "sms", "consent": "yes", "challenge_token": token, "challenge": str(solve(question))}
        for name, value in fields.items():
            form.add_field(name, value)
        for path in files:
            kind = "image/png" if path.endswith(".png") else "image/jpeg"
            form.add_field("files", Path(path).read_bytes(), filename=Path(path).name, content_type=kind)
        async with http.post(base + "/report", data=form) as reply:
            await reply.read()
            return reply.status

async def main():
    print(*await asyncio.gather(*(submit(n) for n in range(count))))

asyncio.run(main())
"""


async def _uploads(base: str, count: int, files: list[Path]) -> list[int]:
    """The citizens' phones: another process, at the lowest priority (they stand for other machines)."""
    proc = await asyncio.create_subprocess_exec(
        "nice",
        "-n",
        "19",
        sys.executable,
        "-c",
        UPLOADS,
        base,
        str(count),
        *map(str, files),
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
    )
    out, _ = await proc.communicate()
    return [int(s) for s in out.split()]


def percentile(values: list[float], p: float) -> float:
    """The value at share `p` of the sorted values, in milliseconds."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * p))] * 1000


async def _run(
    base: str, port: int, calls: int, images: list[Path] | None, tag: str
) -> tuple[list[float], Peaks, list[int], float]:
    peaks, stop = Peaks(), asyncio.Event()
    watcher = asyncio.create_task(peaks.watch(stop))
    started = time.monotonic()
    uploads: asyncio.Task[list[int]] | None = None
    if images is not None:
        uploads = asyncio.create_task(_uploads(base, SUBMISSIONS, images))
        await asyncio.sleep(0.5)  # the submissions are arriving
    latencies = await ivr_latencies(port, calls, tag)
    batch = 0
    while uploads is not None and not uploads.done():  # calls all the while the files are checked
        batch += 1
        latencies += await ivr_latencies(port, 8, f"{tag}.{batch}")
    statuses = list(await uploads) if uploads is not None else []
    took = time.monotonic() - started
    stop.set()
    await watcher
    return latencies, peaks, statuses, took


async def run(calls: int = 80) -> str:
    bomb, jpeg = _bomb_png(), _big_jpeg()
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        (Path(folder) / "anh.jpg").write_bytes(jpeg)
        (Path(folder) / "bom.png").write_bytes(bomb)
        # The photos first: a submission is refused at its first bad file, and the photos are the work.
        images = [Path(folder) / "anh.jpg"] * 2 + [Path(folder) / "bom.png"] * 3
        async with _hotline(Path(folder)) as (base, port):
            await ivr_latencies(port, 8, "warm")
            await _uploads(base, 1, images[:1])  # the worker started, as after the first upload of a day
            base_lat, base_peaks, _, took = await _run(base, port, calls, None, "idle")
            rows.append(("no upload (baseline)", base_lat, base_peaks, "-", took))
            lat, peaks, statuses, took = await _run(base, port, calls, images, "worker")
            rows.append(("10 x 5 images, file worker", lat, peaks, _count(statuses), took))
            # As before: the same files checked by Pillow in threads of the serving process.
            check: Callable[[str, bytes], Awaitable[attachments.CheckedFile]] = file_worker.check_file

            async def in_threads(name: str, data: bytes) -> attachments.CheckedFile:
                return await asyncio.to_thread(attachments.check, name, data)

            # Pillow's own limit only, as before (it refuses beyond 2 x 89 M pixels), no reduced scale.
            saved = attachments.MOST_PIXELS_UNSCALED, attachments.DECODED_PIXELS, attachments.LONGEST_SIDE
            attachments.MOST_PIXELS_UNSCALED, attachments.DECODED_PIXELS = 40_000_000, 10**9
            attachments.LONGEST_SIDE = 10**6
            file_worker.check_file = in_threads
            try:
                lat, peaks, statuses, took = await _run(base, port, calls, images, "threads")
            finally:
                file_worker.check_file = check  # type: ignore[assignment]
                attachments.MOST_PIXELS_UNSCALED, attachments.DECODED_PIXELS, attachments.LONGEST_SIDE = saved
            rows.append(("10 x 5 images, threads (before)", lat, peaks, _count(statuses), took))
    file_worker.WORKER.close()
    base_p99 = percentile(rows[0][1], 0.99)
    lines = [
        f"IVR calls per run: {calls}, then on for as long as the files are checked (pressing 2, hearing the case"
        f" number); {SUBMISSIONS} form submissions at"
        f" once, each with 3 PNGs of {len(bomb) // 1024} kB / 40 M pixels and 2 JPEGs of {len(jpeg) // 1024}"
        " kB / 48 M pixels.",
        "",
        "| run | IVR p50 ms | IVR p99 ms | p99 / baseline | serving process peak MB | file worker peak MB |"
        " form answers | s |",
        "| --- | ---: | ---: | ---: | ---: | ---: | --- | ---: |",
    ]
    for name, latencies, peak, answers, took in rows:
        p99 = percentile(latencies, 0.99)
        lines.append(
            f"| {name} | {percentile(latencies, 0.5):.2f} | {p99:.2f} | {p99 / base_p99:.2f} |"
            f" {peak.serving:.0f} | {peak.worker:.0f} | {answers} | {took:.1f} |"
        )
    worker_peak = rows[1][2].serving
    verdict = "held" if worker_peak <= MEMORY_CEILING_MB else "EXCEEDED"
    lines += ["", f"The serving process's ceiling of {MEMORY_CEILING_MB} MB with the file worker: {verdict}."]
    return "\n".join(lines)


def _count(statuses: list[int]) -> str:
    return ", ".join(f"{statuses.count(s)} x {s}" for s in sorted(set(statuses)))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=80)
    print(asyncio.run(run(parser.parse_args().calls)))


if __name__ == "__main__":
    main()
