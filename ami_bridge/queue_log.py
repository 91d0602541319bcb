"""Asterisk's own record of the calls, read from its queue_log: the bridge is not the only witness.

The dialplan writes a `HOTLINE_END` line as each call hangs up (END_RECORD in
hotline/asterisk/channel_vars.py), and app_queue writes its own lines (ENTERQUEUE, CONNECT, ABANDON,
EXITWITHTIMEOUT, COMPLETE*), whatever the AMI clients do. After every (re)connect the bridge reads what
was added since it last read (the position is kept in the state folder) and completes, from these lines,
the calls that ended while it was away.
Reading costs one `stat` when nothing was added.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import unquote

from hotline.asterisk.channel_vars import END_EVENT, END_RECORD

log = logging.getLogger(__name__)

# On a first read, only the end of a long-lived file: older calls were closed by then, one way or another.
FIRST_READ_BYTES = 64 << 20
# Queue lines of calls still going on are kept for when their end line comes (at most this many calls).
OPEN_CALLS = 50_000
LONGEST_CALL = timedelta(hours=12)
QUEUE_EVENTS = frozenset(
    {"ENTERQUEUE", "CONNECT", "ABANDON", "EXITWITHTIMEOUT", "EXITEMPTY", "COMPLETECALLER", "COMPLETEAGENT"}
)


@dataclass
class QueueLine:
    at: datetime
    queue: str
    agent: str
    event: str
    data: list[str]


@dataclass
class CallRecord:
    """One call as Asterisk recorded it: the dialplan's end line and app_queue's lines."""

    linkedid: str
    end: dict[str, str]
    queue_lines: list[QueueLine] = field(default_factory=list)

    def started(self) -> datetime:
        """When the call entered the hotline (its end, if the start is missing)."""
        for name in ("start", "end"):
            with contextlib.suppress(ValueError):
                if self.end.get(name):
                    return datetime.fromtimestamp(float(self.end[name]), UTC)
        return self.queue_lines[0].at if self.queue_lines else datetime.now(UTC)

    def first(self, event: str) -> QueueLine | None:
        return next((line for line in self.queue_lines if line.event == event), None)


class QueueLogReader:
    def __init__(self, path: Path, position_file: Path) -> None:
        self.path = path
        self.position_file = position_file
        # Queue lines of calls not ended yet, and where in the file each such call's first line is.
        self._open: dict[str, list[QueueLine]] = {}
        self._open_at: dict[str, int] = {}
        self._next: tuple[int, int] | None = None  # where the next read starts (inode, offset)
        self._read_to: tuple[int, int] | None = None
        self._committed: tuple[int, int] | None = None
        self._followed: float | None = None
        self._newest = datetime.min.replace(tzinfo=UTC)  # the latest time a line carried
        self.bad_lines = 0

    def read_new(self) -> dict[str, CallRecord]:
        """The calls whose end line was added since the last read, by linkedid. The saved position moves
        on only at `commit()`, once the caller has made them safe (a crash in between reads them again),
        and never past the first line of a call still going on: a restarted bridge finds its queue lines."""
        try:
            stat = self.path.stat()
        except FileNotFoundError:
            return {}
        inode, offset = self._next or self._position()
        if inode != stat.st_ino or offset > stat.st_size:
            # A new file (rotated, or first read): from its start, or its end part if it is long.
            offset = 0 if inode else max(0, stat.st_size - FIRST_READ_BYTES)
            if inode:
                self._open.clear()
                self._open_at.clear()
        if offset == stat.st_size:
            return {}
        with self.path.open("rb") as f:
            f.seek(offset)
            chunk = f.read(stat.st_size - offset)
        whole = chunk.rfind(b"\n") + 1  # a line Asterisk is still writing waits for the next read
        skip = offset > 0 and inode != stat.st_ino  # started in the middle of a line
        records = self._parse(chunk[:whole], offset, skip)
        self._next = (stat.st_ino, offset + whole)
        # Calls open for longer than any call lasts (Asterisk stopped in them) do not hold the position.
        recent = self._newest - LONGEST_CALL
        pinned = min(
            (at for callid, at in self._open_at.items() if self._open[callid][0].at > recent),
            default=offset + whole,
        )
        self._read_to = (stat.st_ino, min(pinned, offset + whole))
        return records

    def commit(self) -> None:
        if self._read_to is not None:
            self._save(*self._read_to)
            self._read_to = None

    def _parse(self, data: bytes, offset: int, skip_partial: bool) -> dict[str, CallRecord]:
        records: dict[str, CallRecord] = {}
        position = offset
        for number, raw_line in enumerate(data.split(b"\n")):
            start, position = position, position + len(raw_line) + 1
            if not raw_line or (skip_partial and number == 0):
                continue
            parts = raw_line.decode("utf-8", "replace").split("|")
            if len(parts) < 5:
                self.bad_lines += 1
                continue
            stamp, callid, queue, agent, event, *data_fields = parts
            try:
                at = datetime.fromtimestamp(float(stamp), UTC)
            except ValueError:
                self.bad_lines += 1
                continue
            self._newest = max(self._newest, at)
            if event in QUEUE_EVENTS:
                self._open.setdefault(callid, []).append(QueueLine(at, queue, agent, event, data_fields))
                self._open_at.setdefault(callid, start)
                while len(self._open) > OPEN_CALLS:  # calls that never ended (Asterisk crashed in them)
                    oldest = next(iter(self._open))
                    del self._open[oldest]
                    self._open_at.pop(oldest, None)
            elif event == END_EVENT:
                values = [unquote(v, errors="replace") for v in data_fields]
                if not values or values[0] != END_RECORD["version"]:
                    log.warning("queue_log: %s line of %s in an unknown form; skipped", END_EVENT, callid)
                    self.bad_lines += 1
                    continue
                end = dict(zip(END_RECORD, values, strict=False))
                self._open_at.pop(callid, None)
                records[callid] = CallRecord(callid, end, self._open.pop(callid, []))
        return records

    def followed_until(self) -> datetime | None:
        """Until when a bridge last followed Asterisk (see `following`); None if none ever did here."""
        stamp = self._saved().get("followed_until")
        return datetime.fromtimestamp(float(stamp), UTC) if isinstance(stamp, int | float) else None

    def following(self, at: datetime) -> None:
        """Note that the bridge follows Asterisk at `at` (called every few seconds while connected): every
        call that starts before then is one it sees itself, so only later ones need Asterisk's record to
        get a case. Calls of another site on the same Asterisk, or of long ago, are never taken in."""
        self._followed = at.timestamp()
        self._write()

    def _position(self) -> tuple[int, int]:
        saved = self._saved()
        inode, offset = saved.get("inode"), saved.get("offset")
        return (inode, offset) if isinstance(inode, int) and isinstance(offset, int) else (0, 0)

    def _saved(self) -> dict[str, object]:
        with contextlib.suppress(FileNotFoundError, ValueError):
            saved = json.loads(self.position_file.read_text(encoding="utf-8"))
            if isinstance(saved, dict):
                return saved
        return {}

    def _save(self, inode: int, offset: int) -> None:
        self._committed = (inode, offset)
        self._write()

    def _write(self) -> None:
        inode, offset = self._committed or self._position()
        state: dict[str, object] = {"inode": inode, "offset": offset}
        followed = self._followed if self._followed is not None else self._saved().get("followed_until")
        if followed is not None:
            state["followed_until"] = followed
        tmp = self.position_file.with_name(self.position_file.name + ".tmp")
        tmp.write_text(json.dumps(state), encoding="utf-8")
        os.replace(tmp, self.position_file)
