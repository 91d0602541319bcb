"""Run every benchmark and write docs/benchmarks.md: `.venv/bin/python -m bench.run` (as root: the last
one drives calls on the sandbox Asterisk). Each table compares with a baseline measured in the same run;
the machine is noisy, so read the ratios, not the absolute times."""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import subprocess
import time
from pathlib import Path

from bench import agi_bench, ami_bench, knee, requests_bench, sandbox_load, web_bench

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "benchmarks.md"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="fewer levels, calls and events: a smoke run")
    parser.add_argument("--no-sandbox", action="store_true", help="skip the calls on the sandbox Asterisk")
    parser.add_argument("--no-write", action="store_true", help="print only; leave docs/benchmarks.md")
    args = parser.parse_args()
    started = time.time()
    sections = []
    levels = [1, 100] if args.quick else [1, 100, 1000, 2000]
    _, agi_table = asyncio.run(
        agi_bench.run(levels, min_calls=100 if args.quick else 300, classic_calls=10 if args.quick else 40)
    )
    sections.append(("FastAGI server", agi_table))
    print(agi_table, "\n", flush=True)
    ami_table = asyncio.run(ami_bench.run(10 if args.quick else ami_bench.COPIES))
    sections.append(("AMI bridge: replayed events", ami_table))
    print(ami_table, "\n", flush=True)
    if not args.no_sandbox:
        load_table = asyncio.run(sandbox_load.run(seconds=15 if args.quick else 60))
        sections.append(("AMI bridge and IVR: calls on the sandbox", load_table))
        print(load_table, "\n", flush=True)
        fault_table = asyncio.run(sandbox_load.run(seconds=15 if args.quick else 60, postgres_restart=True))
        sections.append(("Fault run: the same calls with PostgreSQL stopped half way", fault_table))
        print(fault_table, "\n", flush=True)
        web_table = asyncio.run(
            web_bench.run(clients=50 if args.quick else 200, seconds=10 if args.quick else 30)
        )
        sections.append(("Web app: wallboards while calls run", web_table))
        print(web_table, flush=True)
        knee_table = asyncio.run(
            knee.ramp((2.0, 5.0) if args.quick else knee.RATES, seconds=10 if args.quick else 30)
        )
        sections.append(("The node's knee: calls per second ramped until something gives", knee_table))
        print(knee_table, flush=True)
    if args.no_write:
        return
    command = (
        "python -m bench.run"
        + (" --quick" if args.quick else "")
        + (" --no-sandbox" if args.no_sandbox else "")
    )
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=ROOT
    ).stdout.strip()
    header = (
        "# Benchmarks\n\n"
        f"Made by `.venv/bin/{command}` at commit {commit} on "
        f"{time.strftime('%Y-%m-%d', time.gmtime(started))}, {platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}; took {time.time() - started:.0f} s. The machine is shared and "
        "noisy: compare the ratios within a table.\n"
    )
    # The requests benchmark runs on its own (it generates millions of rows): its section is kept.
    kept = requests_bench.kept_section()
    DOC.write_text(
        header + "".join(f"\n## {title}\n\n{table}\n" for title, table in sections) + kept, encoding="utf-8"
    )
    print(f"\nwrote {DOC}")


if __name__ == "__main__":
    main()
