"""A recording left open by a killed Asterisk keeps its audio: the header's sizes come back from the file."""

from __future__ import annotations

import math
import struct
import wave
from pathlib import Path

from ami_bridge.case_writer import inspect_recording
from ami_bridge.wav_repair import repair_sizes


def _tone(path: Path, seconds: float) -> None:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        frames = int(8000 * seconds)
        w.writeframes(b"".join(struct.pack("<h", int(8000 * math.sin(i / 5))) for i in range(frames)))


def _as_left_open(path: Path, extra: bytes = b"") -> None:
    """What MixMonitor leaves when its Asterisk is killed: sizes 0 in the header, audio after it."""
    data = bytearray(path.read_bytes())
    struct.pack_into("<I", data, 4, 0)
    struct.pack_into("<I", data, 40, 0)
    path.write_bytes(bytes(data) + extra)


def test_a_recording_left_open_is_kept_whole_frames_only(tmp_path: Path) -> None:
    path = tmp_path / "a-1796352251.0.wav"
    _tone(path, 3.0)
    _as_left_open(path, extra=b"\x01")  # half a frame written as the process died
    assert inspect_recording(str(path)) in (None, (0.0, False))
    assert repair_sizes(path)
    seconds, audio = inspect_recording(str(path)) or (0.0, False)
    assert math.isclose(seconds, 3.0) and audio
    assert not repair_sizes(path), "a whole header is never touched again"


def test_what_is_not_a_left_open_recording_is_left_alone(tmp_path: Path) -> None:
    whole = tmp_path / "whole.wav"
    _tone(whole, 1.0)
    before = whole.read_bytes()
    empty = tmp_path / "empty.wav"
    _tone(empty, 0.0)
    _as_left_open(empty)
    other = tmp_path / "other.wav"
    other.write_bytes(b"ID3" + b"\0" * 100)
    for path in (whole, empty, other, tmp_path / "missing.wav"):
        assert not repair_sizes(path)
    assert whole.read_bytes() == before
