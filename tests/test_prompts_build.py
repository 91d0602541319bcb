"""`hotline prompts build` offline: espeak-ng's Vietnamese voice after gTTS fails, 8 kHz mono WAV for
Asterisk, unchanged prompts kept, a recorded file used instead of the synthesised one."""

from __future__ import annotations

import wave
from pathlib import Path

from pydub import AudioSegment
from pydub.generators import Sine

from ivr.prompts import build
from ivr.prompts.catalog import Catalog


def _catalog(tmp_path: Path, welcome: str = "Xin chào, đây là Tổng đài 1022.") -> Catalog:
    return Catalog(
        path=tmp_path / "catalog.yaml",
        prompts={"welcome": {"vi": welcome}, "goodbye": {"vi": "Cảm ơn bạn đã gọi."}},
        digits={"vi": ["không", "một", "hai", "ba", "bốn", "năm", "sáu", "bảy", "tám", "chín"]},
    )


def _format(path: Path) -> tuple[int, int, int, float]:
    with wave.open(str(path)) as w:
        return w.getframerate(), w.getnchannels(), w.getsampwidth(), w.getnframes() / w.getframerate()


def test_builds_offline_with_a_warning_and_asterisk_format(tmp_path: Path) -> None:
    report = build.build(_catalog(tmp_path), tmp_path / "sounds", recorded_dir=tmp_path / "none")
    assert report.engine == "espeak-ng"
    assert any("gTTS unreachable" in w for w in report.warnings)
    assert len(report.built) == 2 + 10
    rate, channels, width, seconds = _format(tmp_path / "sounds" / "vi" / "hotline" / "welcome.wav")
    assert (rate, channels, width) == (8000, 1, 2)
    assert seconds > 1.0
    assert _format(tmp_path / "sounds" / "vi" / "digits" / "7.wav")[3] > 0.2


def test_only_changed_prompts_are_rebuilt(tmp_path: Path) -> None:
    out = tmp_path / "sounds"
    build.build(_catalog(tmp_path), out, engine="espeak", recorded_dir=tmp_path / "none")
    again = build.build(_catalog(tmp_path), out, engine="espeak", recorded_dir=tmp_path / "none")
    assert again.built == [] and len(again.kept) == 12
    changed = build.build(
        _catalog(tmp_path, "Xin chào, bạn đã gọi Tổng đài 1022."),
        out,
        engine="espeak",
        recorded_dir=tmp_path / "none",
    )
    assert changed.built == ["vi/hotline/welcome"]


def test_a_recorded_file_replaces_the_synthesised_prompt(tmp_path: Path) -> None:
    recorded = tmp_path / "recorded" / "vi"
    recorded.mkdir(parents=True)
    tone: AudioSegment = Sine(440).to_audio_segment(duration=2500).set_frame_rate(44100).set_channels(2)
    tone.export(recorded / "welcome.mp3", format="mp3")
    report = build.build(
        _catalog(tmp_path), tmp_path / "sounds", engine="espeak", recorded_dir=tmp_path / "recorded"
    )
    assert report.recorded == ["vi/hotline/welcome"]
    rate, channels, _, seconds = _format(tmp_path / "sounds" / "vi" / "hotline" / "welcome.wav")
    assert (rate, channels) == (8000, 1)
    assert 2.4 < seconds < 2.7
