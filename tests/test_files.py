"""File modes: `tighten` takes rights away from others (never adds any), leaves sockets and links alone."""

from __future__ import annotations

import os
import socket
import stat
from pathlib import Path

from hotline.files import tighten


def test_tighten_leaves_owner_and_group_reading_and_nobody_else(tmp_path: Path) -> None:
    day = tmp_path / "recordings" / "2026" / "11" / "22"
    day.mkdir(parents=True)
    wav, private = day / "1.1.wav", tmp_path / "secrets.toml"
    wav.write_bytes(b"RIFF")
    private.write_text("x")
    os.chmod(wav, 0o666)
    os.chmod(private, 0o600)
    os.chmod(day, 0o777)
    outside = tmp_path.parent / f"{tmp_path.name}-outside.txt"
    outside.write_text("not ours")
    os.chmod(outside, 0o644)
    (tmp_path / "link").symlink_to(outside)
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(tmp_path / "asterisk.ctl"))
    try:
        assert tighten(tmp_path) >= 2
        assert stat.S_IMODE(wav.stat().st_mode) == 0o640 and stat.S_IMODE(day.stat().st_mode) == 0o750
        assert stat.S_IMODE(private.stat().st_mode) == 0o600  # never loosened
        assert stat.S_IMODE(outside.stat().st_mode) == 0o644  # a link is not followed
        assert tighten(tmp_path) == 0
    finally:
        sock.close()
        outside.unlink()
