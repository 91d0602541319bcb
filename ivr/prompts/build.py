"""`hotline prompts build`: the catalogue's texts as sounds Asterisk plays (8 kHz, mono, 16-bit WAV).

gTTS first (Google's voice); when it cannot be reached, espeak-ng's Vietnamese voice, with a warning.
A prompt is rebuilt only when its text, voice or source changed. A recorded file placed at
ivr/prompts/recorded/<language>/<id>.wav (or .mp3, .ogg) is used instead of a synthesised one.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from gtts import gTTS
from pydub import AudioSegment

from hotline import files
from hotline.errors import HotlineError
from ivr.prompts.catalog import Catalog

log = logging.getLogger(__name__)

RECORDED = Path(__file__).with_name("recorded")
RECORDED_SUFFIXES = (".wav", ".mp3", ".ogg", ".flac")
ESPEAK_VOICES = {"vi": "vi", "en": "en"}
GTTS_TIMEOUT = 5.0
MANIFEST = ".manifest.json"


class PromptBuildError(HotlineError):
    pass


@dataclass
class BuildReport:
    built: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)
    recorded: list[str] = field(default_factory=list)
    engine: str = ""
    warnings: list[str] = field(default_factory=list)


Synth = Callable[[str, str], AudioSegment]


class Synthesiser:
    """gTTS while it answers; after its first failure, espeak-ng for the rest of the build."""

    def __init__(self, engine: str = "auto") -> None:
        if engine not in ("auto", "gtts", "espeak"):
            raise PromptBuildError(f"--engine {engine!r}: use auto, gtts or espeak")
        self.engine = engine
        self.gtts_failed = engine == "espeak"
        self.warnings: list[str] = []

    @property
    def name(self) -> str:
        return "espeak-ng" if self.gtts_failed else "gtts"

    def __call__(self, text: str, language: str) -> AudioSegment:
        if not self.gtts_failed:
            try:
                return _gtts(text, language)
            except Exception as exc:
                if self.engine == "gtts":
                    raise PromptBuildError(
                        f"gTTS failed ({exc}); use --engine espeak to build offline"
                    ) from None
                self.gtts_failed = True
                warning = f"gTTS unreachable ({type(exc).__name__}: {exc}); using espeak-ng's voice instead"
                log.warning(warning)
                self.warnings.append(warning)
        return _espeak(text, language)


def _gtts(text: str, language: str) -> AudioSegment:
    mp3 = io.BytesIO()
    gTTS(text, lang=language, timeout=GTTS_TIMEOUT).write_to_fp(mp3)
    mp3.seek(0)
    return AudioSegment.from_file(mp3, format="mp3")


def _espeak(text: str, language: str) -> AudioSegment:
    if shutil.which("espeak-ng") is None:
        raise PromptBuildError(
            "espeak-ng is not installed (apt-get install espeak-ng); gTTS is unreachable too"
        )
    proc = subprocess.run(
        ["espeak-ng", "-v", ESPEAK_VOICES.get(language, language), "-s", "150", "--stdout"],
        input=text.encode("utf-8"),
        capture_output=True,
        timeout=60,
    )
    if proc.returncode != 0 or not proc.stdout:
        raise PromptBuildError(f"espeak-ng failed for {text[:40]!r}: {proc.stderr.decode(errors='replace')}")
    return AudioSegment.from_file(io.BytesIO(proc.stdout), format="wav")


def for_asterisk(audio: AudioSegment) -> AudioSegment:
    return audio.set_channels(1).set_frame_rate(8000).set_sample_width(2)


def build(
    catalog: Catalog,
    out_dir: Path,
    languages: tuple[str, ...] = ("vi",),
    *,
    engine: str = "auto",
    force: bool = False,
    recorded_dir: Path = RECORDED,
) -> BuildReport:
    synth = Synthesiser(engine)
    report = BuildReport()
    for language in languages:
        base = out_dir / language
        manifest_path = base / MANIFEST
        old = _read_manifest(manifest_path)
        new: dict[str, str] = {}
        jobs = [
            (f"hotline/{pid}", texts[language], pid)
            for pid, texts in catalog.prompts.items()
            if language in texts
        ]
        jobs += [(f"digits/{d}", word, "") for d, word in enumerate(catalog.digits.get(language, []))]
        jobs += [(rel, texts[language], "") for rel, texts in catalog.asterisk.items() if language in texts]
        for rel, text, pid in jobs:
            target = base / f"{rel}.wav"
            recorded = _recorded(recorded_dir, language, pid) if pid else None
            if recorded:
                key = "recorded:" + hashlib.sha256(recorded.read_bytes()).hexdigest()
            else:
                key = "text:" + hashlib.sha256(f"{language}|{text}".encode()).hexdigest()
            new[rel] = key
            unchanged = old.get(rel) == key and target.is_file()
            if unchanged and not force:
                report.kept.append(f"{language}/{rel}")
                continue
            audio = AudioSegment.from_file(recorded) if recorded else synth(text, language)
            target.parent.mkdir(parents=True, exist_ok=True)
            for_asterisk(audio).export(target, format="wav")
            (report.recorded if recorded else report.built).append(f"{language}/{rel}")
            # Saved after every file, so an interrupted build resumes where it stopped.
            _write_manifest(manifest_path, {**old, **new})
        _write_manifest(manifest_path, new)
        # Asterisk (another user) plays these: readable by all, whatever the umask of the build.
        files.open_to_all(base)
    report.engine = synth.name if report.built else "none needed"
    report.warnings = synth.warnings
    return report


def _recorded(folder: Path, language: str, pid: str) -> Path | None:
    for suffix in RECORDED_SUFFIXES:
        path = folder / language / f"{pid}{suffix}"
        if path.is_file():
            return path
    return None


def _read_manifest(path: Path) -> dict[str, str]:
    try:
        data = json.loads(path.read_text())
        return {str(k): str(v) for k, v in data.items()}
    except (FileNotFoundError, ValueError):
        return {}


def _write_manifest(path: Path, data: dict[str, str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=1, sort_keys=True))
    tmp.replace(path)
