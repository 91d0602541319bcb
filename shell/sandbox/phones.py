"""baresip SIP phones for the sandbox: agents' phones that register and answer by themselves."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from pathlib import Path

from hotline.errors import SandboxError

MODULES = ("g711.so", "ausine.so", "aufile.so", "account.so", "menu.so", "ctrl_tcp.so")


@dataclass(frozen=True)
class PhoneSpec:
    account: str  # the PJSIP endpoint / username, e.g. agent101
    password: str
    sip_port: int
    control_port: int
    registrar: str  # host:port of Asterisk's SIP transport
    host: str = "127.0.0.1"  # where the phone listens (SIP and control)
    auto_answer: bool = True
    # A caller's phone rather than an agent's: the From it presents (display name, user part, each as
    # it goes on the wire) and no registration; it authenticates as `account`.
    display_name: str = ""
    from_user: str = ""


def write_config(folder: Path, phone: PhoneSpec) -> None:
    """One config folder per phone, as `baresip -f FOLDER` expects."""
    folder.mkdir(parents=True, exist_ok=True)
    lines = [
        f"sip_listen {phone.host}:{phone.sip_port}",
        "module_path /usr/lib/baresip/modules",
        *(f"module {m}" for m in MODULES),
        f"ctrl_tcp_listen {phone.host}:{phone.control_port}",
        # No sound card in a sandbox: the phone "speaks" a 440 Hz tone and discards what it hears.
        "audio_player aufile,/dev/null",
        "audio_source ausine,440",
        "audio_alert aufile,/dev/null",
        # ausine only supports 48 kHz; without these the answer fails.
        "ausrc_srate 48000",
        "auplay_srate 48000",
    ]
    (folder / "config").write_text("\n".join(lines) + "\n")
    answer = "auto" if phone.auto_answer else "manual"
    if phone.from_user:
        name = f'"{phone.display_name}" ' if phone.display_name else ""
        account = (
            f"{name}<sip:{phone.from_user}@{phone.registrar};transport=udp>;auth_user={phone.account};"
            f"auth_pass={phone.password};answermode={answer};regint=0\n"
        )
    else:
        account = (
            f"<sip:{phone.account}@{phone.registrar};transport=udp>;auth_pass={phone.password};"
            f"answermode={answer};regint=60\n"
        )
    accounts = folder / "accounts"
    accounts.write_text(account)
    accounts.chmod(0o600)
    (folder / "contacts").write_text("")


class PhoneControl:
    """baresip's ctrl_tcp: netstring-framed JSON commands, e.g. dial a number or hang up."""

    def __init__(self, port: int, host: str = "127.0.0.1") -> None:
        self.host, self.port = host, port

    async def command(self, command: str, params: str = "", timeout: float = 5.0) -> dict[str, object]:
        try:
            reader, writer = await asyncio.wait_for(asyncio.open_connection(self.host, self.port), timeout)
        except (OSError, TimeoutError) as exc:
            raise SandboxError(f"baresip control port {self.port} unreachable: {exc}") from None
        try:
            body = json.dumps({"command": command, "params": params, "token": command}).encode()
            writer.write(f"{len(body)}:".encode() + body + b",")
            await writer.drain()
            while True:
                message = await asyncio.wait_for(_read_netstring(reader), timeout)
                if message.get("response"):
                    return message
        finally:
            writer.close()

    async def dial(self, uri: str) -> dict[str, object]:
        return await self.command("dial", uri)

    async def hangup(self) -> dict[str, object]:
        return await self.command("hangup")


async def _read_netstring(reader: asyncio.StreamReader) -> dict[str, object]:
    length = int((await reader.readuntil(b":"))[:-1])
    payload = await reader.readexactly(length + 1)
    result: dict[str, object] = json.loads(payload[:-1])
    return result
