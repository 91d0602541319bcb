"""The case writer's durable journal: every snapshot of a call it is handed is appended to a local file
before it is written to the database, and the file is dropped once the database has it. A process killed
with -9 while the database is away loses nothing: the next start replays the journal.

Segments `journal-<n>.jsonl` in the state folder, one JSON record per line. Appends go straight to the
file (the kernel keeps them across a crash of the process); `sync()` makes them durable against a crash
of the machine, in batches. `checkpoint()` starts a new segment holding only what is not yet in the
database and removes the older ones, so the journal stays as small as the backlog.

A full disk (or any other write error) does not stop the writer: the snapshot is still in memory and is
written to the database as usual; only the protection against a crash is lost until the disk has room
again. Each failed append is counted and logged (at most once a minute), and `healthy` turns false.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import re
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from hotline.errors import HotlineError

log = logging.getLogger(__name__)

SEGMENT = re.compile(r"journal-(\d+)\.jsonl")
CHECKPOINT_BYTES = 16 << 20  # a segment this large is compacted to the backlog it still protects
ERROR_LOG_SECONDS = 60.0


class Journal:
    def __init__(self, folder: Path, checkpoint_bytes: int = CHECKPOINT_BYTES) -> None:
        self.folder = folder
        self.checkpoint_bytes = checkpoint_bytes
        self.errors = 0  # appends or checkpoints that failed (disk full, I/O error)
        self.bad_lines = 0  # lines that could not be read back (a torn last line after a crash)
        self.healthy = True
        self._fd: int | None = None
        self._number = 0
        self._size = 0
        self._torn = False  # the last append may have left half a line
        self._dirty = False
        self._last_error_log = 0.0
        self._lock_fd: int | None = None

    # -- start ---------------------------------------------------------------------------------------
    def open(self) -> list[dict[str, Any]]:
        """Read every segment left by earlier runs (oldest first) and start a new one. The caller writes
        the records it gets back; the old segments go at the next checkpoint."""
        self.folder.mkdir(parents=True, exist_ok=True)
        os.chmod(self.folder, 0o700)  # snapshots hold callers' numbers and names
        self._lock()
        records: list[dict[str, Any]] = []
        for path in self._segments():
            records += self._read(path)
        numbers = [self._index(p) for p in self._segments()]
        self._number = max(numbers, default=0)
        self._start_segment()
        return records

    def _lock(self) -> None:
        """One writer per journal: a second bridge on the same state folder would replay and delete the
        first one's segments. The kernel drops the lock when the process dies, even by kill -9."""
        fd = os.open(self.folder / ".lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise HotlineError(
                f"another bridge is already using the case journal in {self.folder}; run one bridge per "
                "state folder (stop the other, or give this one its own state_dir)"
            ) from None
        self._lock_fd = fd

    def _read(self, path: Path) -> list[dict[str, Any]]:
        records = []
        with path.open("rb") as f:
            for line_number, line in enumerate(f, 1):
                if not line.strip():
                    continue
                try:
                    record = json.loads(line)
                    if not isinstance(record, dict):
                        raise ValueError("not a JSON object")
                except ValueError as exc:
                    self.bad_lines += 1
                    log.warning("journal %s line %d is unreadable (%s); skipped", path, line_number, exc)
                    continue
                records.append(record)
        return records

    # -- appending -----------------------------------------------------------------------------------
    def append(self, record: dict[str, Any]) -> bool:
        """Add a record; False if it could not be written (the disk is full, ...)."""
        # ASCII only: any string (even one with a lone surrogate) round-trips, and a line is one write.
        line = json.dumps(record, separators=(",", ":"), default=str) + "\n"
        data = ("\n" + line if self._torn else line).encode("ascii")
        try:
            if self._fd is None:
                self._start_segment()
            assert self._fd is not None
            written = os.write(self._fd, data)
            if written != len(data):
                self._torn = True
                raise OSError(f"short write ({written} of {len(data)} bytes)")
        except OSError as exc:
            self._failed("append to", exc)
            return False
        self._torn = False
        self._dirty = True
        self._size += len(data)
        self.healthy = True
        return True

    def sync(self) -> None:
        """Make the appends so far durable against a crash of the machine (blocking: run in a thread)."""
        fd = self._fd
        if fd is None or not self._dirty:
            return
        self._dirty = False
        try:
            os.fsync(fd)
        except OSError as exc:
            self._failed("sync", exc)

    @property
    def size(self) -> int:
        return self._size

    def needs_checkpoint(self) -> bool:
        return self._size >= self.checkpoint_bytes

    def checkpoint(self, unwritten: Iterable[dict[str, Any]]) -> bool:
        """Start a new segment holding `unwritten` (what the database does not have yet), then remove the
        older segments. If the new segment cannot be written the old ones stay: nothing is dropped."""
        old = self._segments()
        previous = self._fd
        try:
            self._number += 1
            path = self._path(self._number)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_TRUNC, 0o600)
        except OSError as exc:
            self._failed("start a segment in", exc)
            return False
        size = 0
        try:
            for record in unwritten:
                data = (json.dumps(record, separators=(",", ":"), default=str) + "\n").encode("ascii")
                if os.write(fd, data) != len(data):
                    raise OSError("short write")
                size += len(data)
            os.fsync(fd)
        except OSError as exc:
            os.close(fd)
            with contextlib.suppress(OSError):
                path.unlink()
            self._failed("write a checkpoint to", exc)
            return False
        self._fd, self._size, self._torn, self._dirty = fd, size, False, False
        if previous is not None:
            os.close(previous)
        for segment in old:
            with contextlib.suppress(FileNotFoundError):
                segment.unlink()
        self._sync_folder()
        self.healthy = True
        return True

    def close(self) -> None:
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.fsync(self._fd)
            os.close(self._fd)
            self._fd = None
        if self._lock_fd is not None:
            os.close(self._lock_fd)  # releases the lock
            self._lock_fd = None

    # -- helpers -------------------------------------------------------------------------------------
    def _start_segment(self) -> None:
        self._number += 1
        self._fd = os.open(self._path(self._number), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        self._size = 0
        self._sync_folder()

    def _sync_folder(self) -> None:
        # A new or removed file is durable only once its folder is.
        with contextlib.suppress(OSError):
            fd = os.open(self.folder, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)

    def _failed(self, what: str, exc: OSError) -> None:
        self.errors += 1
        self.healthy = False
        now = time.monotonic()
        if now - self._last_error_log >= ERROR_LOG_SECONDS or self.errors == 1:
            self._last_error_log = now
            log.error(
                "cannot %s the case journal in %s (%s): cases are still written to the database, but a "
                "crash now would lose those not yet written; free disk space (%d failure(s) so far)",
                what,
                self.folder,
                exc,
                self.errors,
            )

    def _segments(self) -> list[Path]:
        found = (
            [p for p in self.folder.iterdir() if SEGMENT.fullmatch(p.name)] if self.folder.is_dir() else []
        )
        return sorted(found, key=self._index)

    def _path(self, number: int) -> Path:
        return self.folder / f"journal-{number:08d}.jsonl"

    @staticmethod
    def _index(path: Path) -> int:
        match = SEGMENT.fullmatch(path.name)
        return int(match.group(1)) if match else 0
