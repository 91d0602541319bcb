"""Agents log in and out and pause, by the feature codes on their phones and through the bridge's
actions, and who is logged in survives a restart of Asterisk."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import Iterator

import pytest

from shell.sandbox.runner import Sandbox
from tests.conftest import ROOT, TEST_SETTINGS

pytestmark = pytest.mark.asterisk


def members(sandbox: Sandbox, queue: str) -> str:
    return sandbox.cli(f"queue show q-{queue}")


def agents_command(*args: str) -> str:
    proc = subprocess.run(
        [sys.executable, "-m", "shell.cli", "--settings", str(TEST_SETTINGS), "agents", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


@pytest.fixture
def agent103_restored(sandbox: Sandbox) -> Iterator[None]:
    yield
    agents_command("login", "103")
    agents_command("unpause", "103")


async def dial(sandbox: Sandbox, code: str) -> None:
    await sandbox.phone_control("agent103").dial(code)
    await asyncio.sleep(2.5)  # the feature code plays a beep and hangs up


def test_login_logout_pause_through_the_bridge(sandbox: Sandbox, agent103_restored: None) -> None:
    assert "logged out of: health, operator" in agents_command("logout", "103")
    assert "agent103" not in members(sandbox, "health") and "agent103" not in members(sandbox, "operator")
    assert "logged in to: health, operator" in agents_command("login", "103")
    assert "agent103" in members(sandbox, "health")
    agents_command("pause", "103", "--reason", "lunch")
    assert "paused:lunch" in members(sandbox, "health")
    agents_command("unpause", "103")
    assert "paused" not in members(sandbox, "health")


async def test_feature_codes_on_the_agents_phone(sandbox: Sandbox, agent103_restored: None) -> None:
    await dial(sandbox, "*46")
    assert "agent103" not in members(sandbox, "health") and "agent103" not in members(sandbox, "operator")
    await dial(sandbox, "*45")
    assert "agent103" in members(sandbox, "health") and "agent103" in members(sandbox, "operator")
    await dial(sandbox, "*47")
    assert "paused:break" in members(sandbox, "health")
    await dial(sandbox, "*48")
    assert "paused" not in members(sandbox, "health")


def test_who_is_logged_in_survives_an_asterisk_restart(sandbox: Sandbox, agent103_restored: None) -> None:
    agents_command("logout", "103")
    sandbox.down()
    sandbox.up()
    assert "agent103" not in members(sandbox, "health")
    assert "agent101" in members(sandbox, "violation") and "agent102" in members(sandbox, "welfare")
