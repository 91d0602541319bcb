"""A real SMS gateway of a test's own: Debian's Kannel (bearerbox and smsbox) with its fake SMSC, and
Kannel's own test phone (`fakesmsc`, from kannel-extras) on the other side: it sends the messages a test
gives it, as a citizen's phone would, and prints every message the gateway delivers to it."""

from __future__ import annotations

import contextlib
import re
import shutil
import subprocess
import time
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tests.agi_peer import free_ports
from tests.processes import wait_for_port

FAKESMSC = Path("/usr/lib/kannel/test/fakesmsc")
PASSWORD = "sendsms-thu-nghiem"
CONF = """
group = core
admin-port = {admin}
admin-password = {password}
smsbox-port = {smsbox}
log-file = "{root}/bearerbox.log"
log-level = 1
box-allow-ip = "127.0.0.1"
dlr-storage = internal

group = smsc
smsc = fake
smsc-id = fake
port = {fake}
connect-allow-ip = "127.0.0.1"

group = smsbox
bearerbox-host = 127.0.0.1
bearerbox-port = {smsbox}
sendsms-port = {sendsms}
global-sender = 1022
log-file = "{root}/smsbox.log"
log-level = 1
mo-recode = true

group = sendsms-user
username = hotline
password = {password}
concatenation = true
max-messages = 10

group = sms-service
keyword = default
catch-all = true
max-messages = 0
get-url = "{inbound}?from=%p&to=%P&text=%a&id=%I"
"""
GOT = re.compile(r"Got message \d+: <(\S+) (\S+) (\S+) (.*)>$")


@dataclass
class Delivered:
    sender: str
    to: str
    text: str
    parts: int  # the parts the gateway sent it in


class Phone:
    """Kannel's fakesmsc: the messages it was given go to the gateway; what the gateway sends it is read
    from its output."""

    def __init__(self, out: Path) -> None:
        self.out = out

    def delivered(self, coding: str = "ucs2") -> list[Delivered]:
        """What the gateway delivered, its parts put together (`coding`: how the parts' data is encoded,
        ucs2 or gsm7, as the sender chose)."""
        whole: list[Delivered] = []
        pending: dict[str, dict[int, str]] = {}
        for line in self.out.read_text(errors="replace").splitlines():
            found = GOT.search(line)
            if not found:
                continue
            sender, to, kind, rest = found.groups()
            if kind == "udh":
                udh_text, _, data = rest.partition(" data ")
                udh = urllib.parse.unquote_to_bytes(udh_text)
                ref, total, seq = udh[3], udh[4], udh[5]
                pending.setdefault(f"{sender}:{to}:{ref}", {})[seq] = _text(data, coding)
                parts = pending[f"{sender}:{to}:{ref}"]
                if len(parts) == total:
                    whole.append(Delivered(sender, to, "".join(parts[i] for i in sorted(parts)), total))
            else:
                whole.append(Delivered(sender, to, _text(rest, "ucs2" if kind == "ucs-2" else ""), 1))
        return whole


def _text(data: str, coding: str) -> str:
    # fakesmsc writes the data form-encoded: a byte 0x20 as "+", whatever the coding.
    raw = urllib.parse.unquote_to_bytes(data.replace("+", "%20"))
    return raw.decode("utf-16-be") if coding == "ucs2" else raw.decode("latin-1")


@dataclass
class Kannel:
    root: Path
    sendsms_port: int
    fake_port: int

    @property
    def sendsms_url(self) -> str:
        return f"http://127.0.0.1:{self.sendsms_port}/cgi-bin/sendsms"

    @contextlib.contextmanager
    def phone(self, *texts: tuple[str, str]) -> Iterator[Phone]:
        """The citizen's side: sends each (from, text) to the hotline's number, then receives."""
        out = self.root / f"phone-{time.monotonic_ns()}.out"
        messages = [
            f"{sender} 1022 ucs2 {urllib.parse.quote(text.encode('utf-16-be'))}" for sender, text in texts
        ] or ["0900000000 1022 text nothing"]
        with out.open("w") as sink:
            process = subprocess.Popen(
                [
                    str(FAKESMSC),
                    "-H",
                    "127.0.0.1",
                    "-r",
                    str(self.fake_port),
                    "-i",
                    "0.5",
                    "-m",
                    str(len(texts)),
                    *messages,
                ],
                stdout=sink,
                stderr=subprocess.STDOUT,
            )
        try:
            yield Phone(out)
        finally:
            process.terminate()
            process.wait(10)


@contextlib.contextmanager
def running_kannel(root: Path, inbound_url: str) -> Iterator[Kannel]:
    for program in ("/usr/sbin/bearerbox", "/usr/sbin/smsbox", str(FAKESMSC)):
        if not Path(program).exists():
            raise RuntimeError(
                f"{program} is missing; scripts/test installs Debian's kannel and kannel-extras"
            )
    root.mkdir(parents=True, exist_ok=True)
    sendsms, fake_smsc, smsbox_port, admin = free_ports(4)
    kannel = Kannel(root, sendsms, fake_smsc)
    conf = root / "kannel.conf"
    conf.write_text(
        CONF.format(
            root=root,
            admin=admin,
            smsbox=smsbox_port,
            fake=kannel.fake_port,
            sendsms=kannel.sendsms_port,
            password=PASSWORD,
            inbound=inbound_url,
        ),
        encoding="utf-8",
    )
    processes = []
    try:
        bearerbox = subprocess.Popen(
            ["/usr/sbin/bearerbox", "-v", "1", str(conf)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        processes.append(bearerbox)
        wait_for_port(smsbox_port, bearerbox, "bearerbox", root / "bearerbox.log")
        smsbox = subprocess.Popen(
            ["/usr/sbin/smsbox", "-v", "1", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        processes.append(smsbox)
        wait_for_port(kannel.sendsms_port, smsbox, "smsbox", root / "smsbox.log")
        yield kannel
    finally:
        for process in reversed(processes):
            process.terminate()
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(10)
        shutil.rmtree(root, ignore_errors=True)
