"""The carrier in the multi-node sandbox: SIPp (Debian's sip-tester) placing citizens' calls to the edge
from a host of its own, as a carrier's trunk would: INVITE with SDP, keys pressed as RFC 4733 events (the
pcaps SIPp ships), the route the edge recorded followed for ACK and BYE.

Each call's scenario is written for it (the keys and the pauses are the call's), and the node that answered
is read from the Contact of its 200 OK.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from xml.sax.saxutils import escape

from hotline.errors import SandboxError
from shell.sandbox.network import Host

PCAPS = Path("/usr/share/sip-tester")
KEY_PCAPS = {**{str(d): f"dtmf_2833_{d}.pcap" for d in range(10)}, "*": "dtmf_2833_star.pcap"}
KEY_PCAPS["#"] = "dtmf_2833_pound.pcap"
# What SIPp's exit status says (its manual: 0 every call succeeded, 1 at least one failed).
ALL_SUCCEEDED = 0


@dataclass(frozen=True)
class CallPlan:
    number: str = "1022"
    caller: str = "0912345678"
    keys: str = ""  # pressed one by one, the first `first_key_ms` after the answer
    first_key_ms: int = 4000
    key_gap_ms: int = 1500
    hold_ms: int = 2000  # after the last key (or the answer), before the citizen hangs up
    answer_ms: int = 10_000  # how long the citizen waits for an answer


@dataclass(frozen=True)
class CallResult:
    answered: bool
    node_address: str  # the Contact host of the 200 OK: the node that answered
    seconds: float  # from the INVITE to the end of the call (or its failure)
    error: str = ""


def scenario(plan: CallPlan) -> str:
    """The SIPp scenario of one call."""
    for key in plan.keys:
        if key not in KEY_PCAPS:
            raise ValueError(f"no key {key!r} on a phone's keypad")
    steps = []
    for index, key in enumerate(plan.keys):
        gap = plan.first_key_ms if index == 0 else plan.key_gap_ms
        steps.append(f'  <pause milliseconds="{gap}"/>')
        pcap = escape(str(PCAPS / KEY_PCAPS[key]), {'"': "&quot;"})
        steps.append(f'  <nop><action><exec play_pcap_audio="{pcap}"/></action></nop>')
    steps.append(f'  <pause milliseconds="{plan.hold_ms}"/>')
    return _SCENARIO.format(
        number=_digits(plan.number),
        caller=_digits(plan.caller),
        answer_ms=plan.answer_ms,
        steps="\n".join(steps),
    )


@dataclass
class PlacedCall:
    """A call SIPp is placing (or has placed)."""

    process: subprocess.Popen[bytes]
    log: Path
    started: float

    def wait(self, timeout: float) -> CallResult:
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.drop()
            return CallResult(False, "", time.monotonic() - self.started, f"no end within {timeout} s")
        return self.result()

    def drop(self) -> None:
        """The carrier lets go of the call without a word (as when its own side fails)."""
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()

    def result(self) -> CallResult:
        seconds = time.monotonic() - self.started
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        found = re.search(r"answered by ([0-9a-fA-F.:]+)", text)
        node = found[1] if found else ""
        if self.process.returncode == ALL_SUCCEEDED:
            return CallResult(True, node, seconds)
        errors = self.log.with_suffix(".errors")
        said = errors.read_text(errors="replace")[-500:] if errors.exists() else ""
        return CallResult(bool(node), node, seconds, f"sipp exited {self.process.returncode}: {said.strip()}")


class Carrier:
    def __init__(self, host: Host, edge: str, folder: Path) -> None:
        if shutil.which("sipp") is None:
            raise SandboxError("sipp is not installed: apt-get install sip-tester (Debian's package)")
        self.host, self.edge, self.folder = host, edge, folder
        folder.mkdir(parents=True, exist_ok=True)
        self._calls = 0

    def call(self, plan: CallPlan, timeout: float = 60.0) -> CallResult:
        """Place one call and wait for its end."""
        return self.start(plan).wait(timeout)

    def start(self, plan: CallPlan) -> PlacedCall:
        """Place one call and return at once."""
        self._calls += 1
        name = f"call-{self._calls}"
        xml = self.folder / f"{name}.xml"
        xml.write_text(scenario(plan))
        log = self.folder / f"{name}.log"
        for stale in (log, log.with_suffix(".errors")):
            stale.unlink(missing_ok=True)
        command = [
            "sipp",
            self.edge,
            "-sf",
            str(xml),
            "-i",
            self.host.address,
            "-m",
            "1",
            "-nostdin",
            "-trace_logs",
            "-log_file",
            str(log),
            "-trace_err",
            "-error_file",
            str(log.with_suffix(".errors")),
        ]
        started = time.monotonic()
        proc = subprocess.Popen(
            self.host.command(command),
            cwd=self.folder,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        return PlacedCall(proc, log, started)


def _digits(value: str) -> str:
    if not re.fullmatch(r"\+?[0-9]{1,20}", value):
        raise ValueError(f"not a phone number: {value!r}")
    return value


_SCENARIO = """<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="a citizen calls the hotline">
  <send retrans="500">
    <![CDATA[
      INVITE sip:{number}@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: <sip:{caller}@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
      To: <sip:{number}@[remote_ip]:[remote_port]>
      Call-ID: [call_id]
      CSeq: 1 INVITE
      Contact: <sip:{caller}@[local_ip]:[local_port]>
      Max-Forwards: 70
      Content-Type: application/sdp
      Content-Length: [len]

      v=0
      o=carrier 53655765 2353687637 IN IP[local_ip_type] [local_ip]
      s=-
      c=IN IP[media_ip_type] [media_ip]
      t=0 0
      m=audio [media_port] RTP/AVP 8 101
      a=rtpmap:8 PCMA/8000
      a=rtpmap:101 telephone-event/8000
      a=fmtp:101 0-15
      a=sendrecv
    ]]>
  </send>
  <recv response="100" optional="true"/>
  <recv response="180" optional="true"/>
  <recv response="183" optional="true"/>
  <recv response="200" rrs="true" timeout="{answer_ms}">
    <action>
      <ereg regexp="Contact: *&lt;?sip:([^@&gt;]*@)?([0-9.]+)" search_in="msg" assign_to="whole,user,node"/>
      <log message="answered by [$node]"/>
    </action>
  </recv>
  <send>
    <![CDATA[
      ACK [next_url] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      [routes]
      From: <sip:{caller}@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
      To: <sip:{number}@[remote_ip]:[remote_port]>[peer_tag_param]
      Call-ID: [call_id]
      CSeq: 1 ACK
      Contact: <sip:{caller}@[local_ip]:[local_port]>
      Max-Forwards: 70
      Content-Length: 0
    ]]>
  </send>
{steps}
  <Reference variables="whole,user"/>
  <send retrans="500">
    <![CDATA[
      BYE [next_url] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      [routes]
      From: <sip:{caller}@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
      To: <sip:{number}@[remote_ip]:[remote_port]>[peer_tag_param]
      Call-ID: [call_id]
      CSeq: 2 BYE
      Contact: <sip:{caller}@[local_ip]:[local_port]>
      Max-Forwards: 70
      Content-Length: 0
    ]]>
  </send>
  <recv response="200" crlf="true"/>
</scenario>
"""
