"""Faults made on the real stores: a SQLite file held locked by another process."""

from __future__ import annotations

import contextlib
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def sqlite_locked(path: Path, seconds: float) -> Iterator[subprocess.Popen[str]]:
    """Another process holds the database's write lock for `seconds`; the block ends when it let go."""
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, str(path), str(seconds)], stdout=subprocess.PIPE, text=True
    )
    assert holder.stdout is not None and holder.stdout.readline() == "locked\n"
    try:
        yield holder
    finally:
        holder.wait(timeout=seconds + 30)


HOLD_LOCK = """
import sqlite3, sys, time
db = sqlite3.connect(sys.argv[1], isolation_level=None)
db.execute("BEGIN EXCLUSIVE")
print("locked", flush=True)
time.sleep(float(sys.argv[2]))
db.execute("COMMIT")
"""
