"""`hotline sandbox up` then `down` leaves no process and no mount behind, even after Asterisk crashed.

Each test runs its own sandbox on other ports and folders, beside the session's."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from hotline import settings as site_settings
from hotline.errors import SandboxError
from hotline.settings import Settings
from shell.sandbox import mounts
from shell.sandbox.processes import alive as _alive
from shell.sandbox.runner import Sandbox, SandboxState
from tests.conftest import TEST_SETTINGS

pytestmark = pytest.mark.asterisk


def _private_site(tmp_path: Path, offset: int) -> Settings:
    return site_settings.load(
        TEST_SETTINGS,
        overrides={
            "state_dir": str(tmp_path / "state"),
            "config_dir": str(tmp_path / "config"),
            "recordings.dir": str(tmp_path / "recordings"),
            "ami.port": 25038 + offset,
            "agi.port": 24573 + offset,
            "sip.bind": f"127.0.0.1:{25060 + offset}",
            "sip.rtp_start": 13000 + offset * 100,
            "sip.rtp_end": 13099 + offset * 100,
            "sandbox.phone_port_base": 25070 + offset * 10,
            "sandbox.control_port_base": 24440 + offset * 10,
        },
    )


def _mounts_mentioning(path: Path) -> list[str]:
    """On the host: the sandbox mounts in a namespace of its own, so never anything."""
    return [line for line in Path("/proc/mounts").read_text().splitlines() if str(path) in line]


def _processes(state: SandboxState) -> list[int]:
    return [pid for pid in (state.asterisk_pid, *state.phone_pids.values()) if os.path.exists(f"/proc/{pid}")]


def test_up_then_down_leaves_no_process_and_no_mount(tmp_path: Path) -> None:
    box = Sandbox(_private_site(tmp_path, 1), log=print)
    root_mounts_before = len(_mounts_mentioning(box.root))
    state = box.up()
    try:
        assert _alive(state.asterisk_pid, "asterisk")
        assert len(state.phone_pids) == 3
        assert all(_alive(pid, "baresip") for pid in state.phone_pids.values())
        inside = mounts.inside(state.asterisk_pid)
        assert {str(tmp_path / "state"), str(tmp_path / "config"), "/proc"} <= set(inside)
        assert _mounts_mentioning(tmp_path) == []
    finally:
        box.down()
    assert _processes(state) == []
    assert _mounts_mentioning(tmp_path) == []
    assert len(_mounts_mentioning(box.root)) == root_mounts_before
    assert not box.state_file.exists()


def test_down_cleans_up_after_asterisk_crashed(tmp_path: Path) -> None:
    box = Sandbox(_private_site(tmp_path, 2), log=print)
    state = box.up()
    os.kill(state.asterisk_pid, signal.SIGKILL)
    deadline = time.monotonic() + 5
    while _alive(state.asterisk_pid, "asterisk") and time.monotonic() < deadline:
        time.sleep(0.05)
    assert box.status()["running"] is False
    box.down()
    assert _processes(state) == []
    assert _mounts_mentioning(tmp_path) == []


def test_up_refuses_ports_that_are_taken(tmp_path: Path, sandbox: Sandbox) -> None:
    # The session's sandbox holds the test site's ports: a second site on the same ports is refused, clearly.
    clash = site_settings.load(
        TEST_SETTINGS,
        overrides={"state_dir": str(tmp_path / "state"), "config_dir": str(tmp_path / "config")},
    )
    with pytest.raises(SandboxError, match=r"ports in use: tcp 127\.0\.0\.1:15038"):
        Sandbox(clash, log=print).up()
    assert _mounts_mentioning(tmp_path) == []
