"""The sandbox carries real calls: the rendered config loads, AMI logs in, both hotline numbers reach the
AGI entry with their DID, and a queued caller is answered by a baresip agent phone."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from ami_bridge.connection import AMIConnection
from hotline import secrets
from hotline.errors import AMIError
from hotline.settings import Settings
from shell.sandbox.runner import Sandbox
from tests.conftest import ROOT, TEST_SETTINGS, Caller

pytestmark = pytest.mark.asterisk


class AGIEnvironmentRecorder:
    """Listens where the FastAGI server would, records each AGI environment and hangs up on Asterisk,
    which then continues the dialplan as for a failed IVR."""

    def __init__(self) -> None:
        self.sessions: list[dict[str, str]] = []
        self.server: asyncio.Server | None = None

    async def start(self, host: str, port: int) -> None:
        self.server = await asyncio.start_server(self._session, host, port, reuse_address=True)

    async def _session(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        env: dict[str, str] = {}
        while line := (await reader.readline()).decode().strip():
            key, _, value = line.partition(": ")
            env[key] = value
        self.sessions.append(env)
        writer.close()

    async def stop(self) -> None:
        if self.server:
            self.server.close()
            await self.server.wait_closed()


@pytest.fixture
async def agi_recorder(site: Settings) -> AsyncIterator[AGIEnvironmentRecorder]:
    recorder = AGIEnvironmentRecorder()
    await recorder.start(site.agi.host, site.agi.port)
    yield recorder
    await recorder.stop()


def test_rendered_config_loads_every_agent_and_queue(site: Settings, sandbox: Sandbox) -> None:
    endpoints = sandbox.cli("pjsip show endpoints")
    for agent in site.agents:
        assert f"agent{agent.extension}/{agent.extension}" in endpoints
    assert f" {site.sandbox.softphone} " in endpoints or f"{site.sandbox.softphone}/" in endpoints
    queues = sandbox.cli("queue show")
    for queue in site.queues:
        assert f"q-{queue.name} has" in queues
    assert sorted(sandbox.registered()) == sorted(f"agent{a.extension}" for a in site.agents)
    errors = [line for line in sandbox.log_file.read_text().splitlines() if "] ERROR[" in line]
    started = sandbox.status()
    assert started["running"]
    assert not [e for e in errors if e[1:20] >= _since(sandbox)], errors


def _since(sandbox: Sandbox) -> str:
    import time

    from shell.sandbox.runner import SandboxState

    state = SandboxState.load(sandbox.state_file)
    assert state is not None
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(state.started_at - 1))


async def test_ami_login_with_rendered_credentials(site: Settings, sandbox: Sandbox) -> None:
    conn = AMIConnection(site.ami.host, site.ami.port, site.ami.username, secrets.ami_secret(site))
    await conn.connect()
    try:
        pong = await conn.action("Ping")
        assert pong.response == "Success"
        assert conn.version
    finally:
        await conn.close()


async def test_ami_wrong_secret_is_refused(site: Settings, sandbox: Sandbox) -> None:
    conn = AMIConnection(site.ami.host, site.ami.port, site.ami.username, "not-the-secret")
    with pytest.raises(AMIError, match="refused"):
        await conn.connect()


@pytest.mark.parametrize(
    ("dialled", "did"), [("1022", "1022"), ("02371022", "02371022"), ("+842371022", "02371022")]
)
async def test_hotline_numbers_reach_the_agi_entry_with_their_did(
    call: Caller, agi_recorder: AGIEnvironmentRecorder, dialled: str, did: str
) -> None:
    result = await call(dialled, hangup_after=1, first_wait=0.5)
    assert result.answered
    assert len(agi_recorder.sessions) == 1
    env = agi_recorder.sessions[0]
    assert env["agi_network_script"] == "ivr"
    assert env["agi_arg_1"] == did
    assert env["agi_language"] == "vi"
    assert env["agi_callerid"] == "0912345678"
    assert result.variables["HOTLINE_DID"] == did


async def test_a_number_that_is_not_ours_is_rejected(call: Caller) -> None:
    result = await call("19001234", hangup_after=1)
    assert not result.answered
    assert not result.named("AGIExecStart")


async def test_queued_caller_is_answered_by_a_baresip_agent_and_recorded(
    call: Caller, site: Settings
) -> None:
    # Nothing listens on the FastAGI port: the dialplan falls back to the operator queue.
    result = await call("1022", keys="1", hangup_after=3)
    assert result.answered
    assert result.variables["HOTLINE_FALLBACK"] == "FAILURE"
    assert result.queue == "q-operator"
    connect = result.named("AgentConnect")
    assert connect, result.as_dict()["events"]
    assert connect[0].Interface.startswith("PJSIP/agent")
    assert result.agent in {a.name for a in site.agents}
    recording = Path(result.variables["HOTLINE_REC"])
    assert recording.is_file()
    assert recording.stat().st_size > 44 + 8000 * 2  # a WAV header and more than 1 s of 8 kHz audio


def test_hotline_call_command_prints_the_outcome(sandbox: Sandbox) -> None:
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "shell.cli",
            "--settings",
            str(TEST_SETTINGS),
            "call",
            "02371022",
            "--keys",
            "w2",
            "--hangup-after",
            "2",
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )
    assert proc.returncode == 0, proc.stderr
    outcome = json.loads(proc.stdout)
    assert outcome["answered"] is True
    assert outcome["variables"]["HOTLINE_DID"] == "02371022"
    assert outcome["dtmf"] == "2"
