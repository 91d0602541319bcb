"""A recording whose Asterisk died: MixMonitor writes the WAV header's sizes only when it closes the file,
so a node killed mid-call leaves the whole conversation on disk behind a header that says it holds nothing.
The sizes are put back from the file's length, so the conversation up to the loss is kept and plays."""

from __future__ import annotations

import logging
import os
import struct
from pathlib import Path

log = logging.getLogger(__name__)

# The header Asterisk's format_wav writes: RIFF, WAVE, a 16-byte fmt chunk, then data at byte 36.
HEADER = 44
DATA_AT = 36


def repair_sizes(path: Path) -> bool:
    """Rewrite the RIFF and data sizes of a WAV whose header says 0 (Asterisk never closed it) from the
    file's length, whole frames only; True if it was repaired. Anything else is left as it is."""
    try:
        with path.open("r+b") as f:
            head = f.read(HEADER)
            if len(head) < HEADER or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
                return False
            if head[DATA_AT : DATA_AT + 4] != b"data" or struct.unpack_from("<I", head, DATA_AT + 4)[0]:
                return False
            block = struct.unpack_from("<H", head, 32)[0] or 1
            size = os.fstat(f.fileno()).st_size
            data = (size - HEADER) // block * block
            if data <= 0:
                return False
            f.seek(4)
            f.write(struct.pack("<I", HEADER - 8 + data))
            f.seek(DATA_AT + 4)
            f.write(struct.pack("<I", data))
    except OSError as exc:
        log.warning("recording %s not repaired: %s", path, exc)
        return False
    log.warning("recording %s was left open by a lost node: its %d bytes of audio kept", path, data)
    return True
