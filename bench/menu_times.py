"""Time from the hotline's answer to joining a queue, for every menu path, from calls on the sandbox:
`.venv/bin/python -m bench.menu_times` (as root). Each path is called twice in the same run: by a caller
who knows the menu (keys pressed during the messages) and by one who listens to each message to its end
first (the baseline); a silent caller is timed against the 45 s target. Times are Asterisk's own event
times (AMI Timestamp), from Answer() to QueueCallerJoin. Writes docs/menu-times.md unless --no-write."""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import wave
from dataclasses import dataclass
from pathlib import Path

from tests.services import start_hotline

ROOT = Path(__file__).resolve().parent.parent
SETTINGS = ROOT / "tests" / "hotline.test.toml"
DOC = ROOT / "docs" / "menu-times.md"
SILENT_TARGET = 45.0


@dataclass(frozen=True)
class MenuPath:
    name: str
    keys: list[str]  # one entry per menu: the key pressed in it
    menus: list[str]  # the prompts the listening caller waits out before each key


PATHS = [
    MenuPath("1 violation", ["1"], ["welcome", "main_menu"]),
    MenuPath("2 suggestion", ["2"], ["welcome", "main_menu"]),
    MenuPath("3 welfare", ["3"], ["welcome", "main_menu"]),
    MenuPath("4-1 health: symptoms", ["4", "1"], ["welcome", "main_menu", "health_menu"]),
    MenuPath("4-2 health: vaccination", ["4", "2"], ["welcome", "main_menu", "health_menu"]),
    MenuPath("4-3 health: testing", ["4", "3"], ["welcome", "main_menu", "health_menu"]),
    MenuPath("0 operator", ["0"], ["welcome", "main_menu"]),
]


def seconds_of(sounds: Path, prompt: str) -> float:
    with wave.open(str(sounds / f"{prompt}.wav")) as w:
        return w.getnframes() / w.getframerate()


def listening_keys(path: MenuPath, sounds: Path) -> tuple[float, str]:
    """The first wait and the keys of a caller who hears each message out (0.5 s after it ends)."""
    first = seconds_of(sounds, path.menus[0]) + seconds_of(sounds, path.menus[1]) + 0.5
    keys = path.keys[0]
    for menu, key in zip(path.menus[2:], path.keys[1:], strict=True):
        keys += "w" * int((seconds_of(sounds, menu) + 0.5) / 0.5 + 1) + key
    return first, keys


async def run() -> str:
    from hotline import settings as site_settings
    from shell.callsim import CallRequest, CallResult, connect_ami, place_call
    from shell.sandbox.runner import Sandbox
    from tests.sites import not_ours, site_on

    with tempfile.TemporaryDirectory(prefix="hotline-menu-") as tmp:
        settings_file = site_on(f"sqlite+aiosqlite:///{tmp}/menu.db", Path(tmp))
        site = site_settings.load(settings_file)
        test_site = site_settings.load(SETTINGS)
        sounds = site.sounds_path / site.site.language / "hotline"
        box = Sandbox(test_site, log=lambda line: None)
        was_running = bool(box.status().get("running"))
        box.up()
        agi = await start_hotline("agi", "serve", ready=b"FastAGI server on", settings=settings_file)
        ami = await connect_ami(site)
        try:

            def call(first_wait: float, keys: str, n: int) -> asyncio.Task[CallResult]:
                request = CallRequest(
                    "1022", keys=keys, first_wait=first_wait, hangup_after=45, caller=f"0988{n:06d}"
                )
                return asyncio.create_task(place_call(site, request, ami=ami, timeout=150))

            tasks: dict[str, tuple[asyncio.Task[CallResult], asyncio.Task[CallResult]]] = {}
            for n, path in enumerate(PATHS):
                knows = call(1.0, "ww".join(path.keys), 2 * n)
                await asyncio.sleep(0.3)
                listens = call(*listening_keys(path, sounds), 2 * n + 1)
                await asyncio.sleep(0.3)
                tasks[path.name] = (knows, listens)
            silent = call(1.0, "", 99)
            rows = []
            for name, (knows, listens) in tasks.items():
                fast, slow = (await knows).seconds_to_queue, (await listens).seconds_to_queue
                ratio = f"{fast / slow:.2f}" if fast and slow else "n/a"
                rows.append(f"| {name} | {_s(fast)} | {_s(slow)} | {ratio} |")
            quiet = (await silent).seconds_to_queue
        finally:
            await ami.close()
            agi.send_signal(2)
            await agi.wait()
            not_ours(test_site)
            if not was_running:
                box.down()
    verdict = "within" if quiet is not None and quiet < SILENT_TARGET else "NOT within"
    return "\n".join(
        [
            "Seconds from the hotline's answer to joining the queue (Asterisk's event times), one call each,",
            "on the sandbox with the shipped prompts as built here (espeak-ng when gTTS cannot be reached).",
            "",
            "| menu path | knows the menu (keys during the messages) | listens to each message first | ratio |",
            "| --- | ---: | ---: | ---: |",
            *rows,
            f"| silent caller (presses nothing) | {_s(quiet)} | | target < {SILENT_TARGET:g} s: {verdict} |",
        ]
    )


def _s(seconds: float | None) -> str:
    return "n/a" if seconds is None else f"{seconds:.1f} s"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--no-write", action="store_true", help="print only; leave docs/menu-times.md")
    args = parser.parse_args()
    table = asyncio.run(run())
    print(table)
    if not args.no_write:
        DOC.write_text(
            "# Time to a person\n\n"
            "Made by `.venv/bin/python -m bench.menu_times` (as root; it starts the sandbox Asterisk and a\n"
            "FastAGI server). A caller who chooses a topic hears their case number before the queue; one who\n"
            "presses nothing hears the welcome and the main menu once and goes to an operator.\n\n"
            + table
            + "\n",
            encoding="utf-8",
        )


if __name__ == "__main__":
    main()
