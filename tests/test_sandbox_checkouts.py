"""The sandbox brought up through the `hotline` command, as a newcomer does, from checkouts in the places
people put them (under /root, /opt, /srv, /home), whose folders do not exist in the sandbox root, under
the command line's umask 027: each boots, takes a call and comes down leaving no process and no mount.
Also what a killed or failed run leaves: the next `up` clears it, and a failed one says why.

Each checkout is a folder with its own settings, state, config, recordings and prompts, on ports of its
own, beside the session's sandbox."""

from __future__ import annotations

import json
import os
import shutil
import signal
import stat
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from hotline import settings as site_settings
from hotline.errors import SandboxError
from shell.sandbox import mounts
from shell.sandbox.processes import alive, in_root
from shell.sandbox.runner import Sandbox, SandboxState
from tests.conftest import ROOT, TEST_SETTINGS

pytestmark = pytest.mark.asterisk

HOTLINE = ROOT / ".venv" / "bin" / "hotline"


def _site_text(offset: int) -> str:
    """The test site's settings with the folders of a checkout (the example's layout) and ports of its own,
    below the kernel's ephemeral range (32768 and up), where no outgoing connection can be holding one."""
    text = TEST_SETTINGS.read_text(encoding="utf-8")
    for old, new in (
        ('state_dir = "../var/test"', 'state_dir = "var"'),
        ('config_dir = "../var/test/asterisk-config"', 'config_dir = "config/asterisk"'),
        ('dir = "../var/test/recordings"', 'dir = "recordings"'),
        ("sqlite+aiosqlite:///../var/test/hotline.db", "sqlite+aiosqlite:///var/hotline.db"),
        ('sounds_dir = "../var/test/sounds"', 'sounds_dir = "ivr/prompts/sounds"'),
        ("port = 15038", f"port = {25038 + offset}"),
        ("port = 14573", f"port = {24573 + offset}"),
        ('bind = "127.0.0.1:15060"', f'bind = "127.0.0.1:{25060 + offset}"'),
        ("rtp_start = 12000", f"rtp_start = {14000 + offset * 100}"),
        ("rtp_end = 12999", f"rtp_end = {14099 + offset * 100}"),
        ("phone_port_base = 15070", f"phone_port_base = {25070 + offset * 10}"),
        ("control_port_base = 14440", f"control_port_base = {24440 + offset * 10}"),
    ):
        assert old in text, old
        text = text.replace(old, new)
    return text


def _checkout(folder: Path, offset: int, sounds: Path) -> Path:
    folder.mkdir(parents=True)
    (folder / "hotline.toml").write_text(_site_text(offset), encoding="utf-8")
    # The prompts as `hotline prompts build` leaves them in a checkout (copied: synthesising takes a minute).
    shutil.copytree(sounds, folder / "ivr" / "prompts" / "sounds")
    return folder / "hotline.toml"


def _hotline(settings: Path, *args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    """The command as a shell runs it: its own process, umask 027, from the checkout's folder."""
    return subprocess.run(
        ["sh", "-c", 'umask 027; exec "$@"', "sh", str(HOTLINE), "--settings", str(settings), *args],
        cwd=settings.parent,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def _ours(folder: Path, root: Path) -> list[str]:
    """Processes and host mounts that mention the checkout."""
    found = [
        f"pid {p.pid}: {' '.join(p.args)}" for p in in_root(root) if any(str(folder) in a for a in p.args)
    ]
    found += [m for m in mounts.on_host(root) if str(folder) in m]
    return found


def _private_modes(folder: Path) -> None:
    """What holds personal data or secrets is readable by nobody but its owner and group."""
    for sub in ("var", "recordings", "config/asterisk", "var/secrets.toml"):
        mode = stat.S_IMODE((folder / sub).stat().st_mode)
        assert mode & 0o007 == 0, f"{folder / sub} is {oct(mode)}: others may read it"


@pytest.fixture
def built_sounds(sandbox: Sandbox) -> Path:
    """The session's sandbox has built the prompts."""
    return sandbox.settings.sounds_path


@pytest.fixture
def place() -> Iterator[list[Path]]:
    """Folders made for a test, removed after it with whatever it left (never through a live mount)."""
    made: list[Path] = []
    yield made
    root = Path(site_settings.load(TEST_SETTINGS).sandbox.root)
    for folder in made:
        leftovers = _ours(folder, root)
        for target in mounts.on_host(root):
            if str(folder) in target:
                mounts.unmount(target)
        if not any(str(folder) in m for m in mounts.on_host(root)):
            shutil.rmtree(folder, ignore_errors=True)
            if not leftovers:  # the mount points made for it in the root: nothing is mounted on them now
                shutil.rmtree(root / str(folder).lstrip("/"), ignore_errors=True)
        assert not leftovers, f"left behind: {leftovers}"


@pytest.mark.parametrize(
    ("where", "offset"),
    [
        ("/root/hotline1022-{tag}", 0),
        ("/opt/hotline-{tag}/hotline1022", 1),
        ("/srv/hotline1022-{tag}", 2),
        ("/home/operator-{tag}/hotline1022", 3),
    ],
)
def test_a_checkout_anywhere_boots_takes_a_call_and_leaves_nothing(
    where: str, offset: int, built_sounds: Path, place: list[Path]
) -> None:
    tag = uuid.uuid4().hex[:8]
    folder = Path(where.format(tag=tag))
    place.append(folder if folder.parent.name in ("root", "opt", "srv", "home") else folder.parent)
    settings = _checkout(folder, offset, built_sounds)
    root = Path(site_settings.load(settings).sandbox.root)
    if folder.parts[1] == "root" and not ROOT.is_relative_to("/root"):
        # The root's own /root, as Debian makes it: nobody but root may pass (the session's sandbox does
        # not need it here). `up` lets Asterisk's user through, without letting it list.
        os.chmod(root / "root", 0o700)
    if folder.parts[1] == "opt":
        # An earlier version made the folders on the way under umask 027: 0750 root:root, which
        # Asterisk's user cannot pass through. `up` repairs them.
        inside = root / str(folder.parent).lstrip("/")
        inside.mkdir(parents=True)
        os.chmod(inside, 0o750)

    up = _hotline(settings, "sandbox", "up")
    assert up.returncode == 0, up.stdout + up.stderr
    try:
        assert "softphone account" in up.stdout
        call = _hotline(settings, "call", "1022", "--keys", "0", "--hangup-after", "4", "--json", timeout=60)
        assert call.returncode == 0, call.stdout + call.stderr
        result = json.loads(call.stdout)
        assert result["variables"]["HOTLINE_QUEUE"] == "operator" and result["agent"], result
        recording = Path(result["variables"]["HOTLINE_REC"])
        assert recording.is_relative_to(folder / "recordings") and recording.is_file()
        _private_modes(folder)
    finally:
        down = _hotline(settings, "sandbox", "down")
    assert down.returncode == 0, down.stdout + down.stderr
    assert _ours(folder, root) == []
    assert not (folder / "var" / "sandbox" / "state.json").exists()
    _private_modes(folder)
    for step in folder.relative_to("/").parents[:-1]:  # each folder on the way, passable but not listable
        assert stat.S_IMODE((root / step).stat().st_mode) & 0o011 == 0o011, step


def test_up_clears_what_a_killed_up_left(built_sounds: Path, place: list[Path]) -> None:
    folder = Path(f"/opt/hotline1022-killed-{uuid.uuid4().hex[:8]}")
    place.append(folder)
    settings = _checkout(folder, 4, built_sounds)
    site = site_settings.load(settings)
    state_file = site.state_path / "sandbox" / "state.json"
    root = Path(site.sandbox.root)

    def killed_mid_way() -> None:
        """`up` killed with -9 once Asterisk runs, before the phones are up: Asterisk outlives it."""
        proc = subprocess.Popen(
            [str(HOTLINE), "--settings", str(settings), "sandbox", "up"],
            cwd=folder,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            state = SandboxState.load(state_file)
            if state and alive(state.asterisk_pid, "asterisk"):
                break
            time.sleep(0.05)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
        # Asterisk may still be entering its root (its /proc root link is the host's until then).
        seen = time.monotonic() + 10
        while not _ours(folder, root) and time.monotonic() < seen:
            time.sleep(0.1)
        assert _ours(folder, root), "nothing ran when the command was killed"

    for lost_state in (False, True):
        killed_mid_way()
        if lost_state:  # and the state folder forgot it: only the processes themselves tell
            state_file.unlink()
        up = _hotline(settings, "sandbox", "up")
        assert up.returncode == 0, up.stdout + up.stderr
        state = SandboxState.load(state_file)
        assert state and state.ready and len(state.phone_pids) == 3
        asterisks = [p for p in in_root(root) if p.program == "asterisk" and str(folder) in " ".join(p.args)]
        assert [p.pid for p in asterisks] == [state.asterisk_pid], "an earlier Asterisk still runs"
        down = _hotline(settings, "sandbox", "down")
        assert down.returncode == 0, down.stdout + down.stderr
        assert _ours(folder, root) == []

    # Killed, then the checkout deleted: its Asterisk is nobody's, and holds the ports another checkout
    # wants. That one's `up` stops it.
    killed_mid_way()
    gone = folder.with_name(folder.name + "-deleted")
    folder.rename(gone)
    place.append(gone)
    other = Path(f"/opt/hotline1022-next-{uuid.uuid4().hex[:8]}")
    place.append(other)
    other_settings = _checkout(other, 4, built_sounds)  # the same ports
    up = _hotline(other_settings, "sandbox", "up")
    assert up.returncode == 0, up.stdout + up.stderr
    assert "left by an earlier run" in up.stdout
    assert _ours(folder, root) == []
    down = _hotline(other_settings, "sandbox", "down")
    assert down.returncode == 0 and _ours(other, root) == []


def test_asterisk_that_does_not_boot_is_reported_with_its_own_words(
    built_sounds: Path, place: list[Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = Path(f"/srv/hotline1022-noboot-{uuid.uuid4().hex[:8]}")
    place.append(folder)
    site = site_settings.load(_checkout(folder, 5, built_sounds))
    box = Sandbox(site, log=print)
    prepare = box._prepare_dirs

    def astdb_unwritable(uid: int, gid: int) -> None:
        prepare(uid, gid)
        os.chown(site.state_path / "asterisk" / "db", 0, 0)  # Asterisk's user may not write its database

    monkeypatch.setattr(box, "_prepare_dirs", astdb_unwritable)
    with pytest.raises(SandboxError) as raised:
        box.up()
    message = str(raised.value)
    assert "Asterisk stopped while starting" in message
    assert str(box.console_file) in message and "ASTdb initialization failed" in message
    assert "\x1b" not in message
    assert _ours(folder, Path(site.sandbox.root)) == []
    assert not box.state_file.exists()
