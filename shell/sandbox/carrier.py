"""The carrier in the multi-node sandbox: SIPp (Debian's sip-tester) placing citizens' calls to the edge
from a host of its own, as a carrier's trunk would: INVITE with SDP, keys pressed as RFC 4733 events (the
pcaps SIPp ships), the route the edge recorded followed for ACK and BYE.

Each call's scenario is written for it (the keys and the pauses are the call's), and the node that answered
is read from the Contact of its 200 OK.
"""

from __future__ import annotations

import contextlib
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
VOICE_PCAP = "g711a.pcap"  # about 7 s of speech, PCMA
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
        steps.append(f'  <nop><action><exec play_pcap_audio="{_pcap(KEY_PCAPS[key])}"/></action></nop>')
    steps.append(f'  <pause milliseconds="{plan.hold_ms}"/>')
    return _SCENARIO.format(
        number=_digits(plan.number),
        caller=_digits(plan.caller),
        answer_ms=plan.answer_ms,
        steps="\n".join(steps),
        timed="",
        timed_end="",
    )


@dataclass(frozen=True)
class LoadPlan:
    """Calls placed at a steady rate by one SIPp, each as a citizen who reaches a queue and talks: RTP
    both ways (SIPp plays a recorded voice), so Asterisk records real audio."""

    rate: float  # new calls per second
    calls: int
    caller_prefix: str = "0915"  # each call's number: the prefix and SIPp's call number
    keys: str = "0"  # the operator queue
    first_key_ms: int = 2500
    hold_ms: int = 8000  # after the voice starts, before the citizen hangs up
    most_at_once: int = 3000


@dataclass(frozen=True)
class LoadResult:
    succeeded: int
    failed: int
    answer_ms: list[float]  # INVITE to 200 OK of each answered call
    callers: list[str]  # the number of every call placed


def load_scenario(plan: LoadPlan) -> str:
    """The SIPp scenario of one call of a load: timed from INVITE to 200 (SIPp's response-time 1)."""
    _digits(plan.caller_prefix)
    steps = []
    for index, key in enumerate(plan.keys):
        gap = plan.first_key_ms if index == 0 else 1500
        steps.append(f'  <pause milliseconds="{gap}"/>')
        steps.append(f'  <nop><action><exec play_pcap_audio="{_pcap(KEY_PCAPS[key])}"/></action></nop>')
    steps.append('  <pause milliseconds="600"/>')
    steps.append(f'  <nop><action><exec play_pcap_audio="{_pcap(VOICE_PCAP)}"/></action></nop>')
    steps.append(f'  <pause milliseconds="{plan.hold_ms}"/>')
    return _SCENARIO.format(
        number="1022",
        caller=f"{plan.caller_prefix}[call_number]",
        answer_ms=30_000,
        steps="\n".join(steps),
        timed=' start_rtd="1"',
        timed_end=' rtd="1"',
    )


def _pcap(name: str) -> str:
    return escape(str(PCAPS / name), {'"': "&quot;"})


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

    def _sipp(
        self, scenario_file: Path, calls: list[str], traces: list[str], errors: Path
    ) -> subprocess.Popen[bytes]:
        """SIPp on the carrier's host, calling the edge: the scenario, how many calls, what it writes."""
        command = ["sipp", self.edge, "-sf", str(scenario_file), "-i", self.host.address, *calls]
        command += ["-nostdin", *traces, "-trace_err", "-error_file", str(errors)]
        return subprocess.Popen(
            self.host.command(command),
            cwd=self.folder,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def call(self, plan: CallPlan, timeout: float = 60.0) -> CallResult:
        """Place one call and wait for its end."""
        return self.start(plan).wait(timeout)

    def load(self, plan: LoadPlan, timeout: float) -> LoadResult:
        """Place the calls of `plan` and wait for them all to end (or `timeout`)."""
        self._calls += 1
        name = f"load-{self._calls}"
        xml = self.folder / f"{name}.xml"
        xml.write_text(load_scenario(plan))
        stats, rtt = self.folder / f"{name}.csv", self.folder / f"{name}_rtt.csv"
        for stale in (stats, rtt):
            stale.unlink(missing_ok=True)
        proc = self._sipp(
            xml,
            ["-r", f"{plan.rate:g}", "-m", str(plan.calls), "-l", str(plan.most_at_once)],
            ["-trace_stat", "-stf", str(stats), "-fd", "1", "-trace_rtt", "-rtt_freq", "1"],
            self.folder / f"{name}.errors",
        )
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        # SIPp names the response-time file after the scenario and its pid.
        rtt = next(iter(sorted(self.folder.glob(f"{name}_*_rtt.csv"))), rtt)
        return LoadResult(
            *_load_counts(stats),
            _response_times(rtt),
            [f"{plan.caller_prefix}{n}" for n in range(1, plan.calls + 1)],
        )

    def start(self, plan: CallPlan) -> PlacedCall:
        """Place one call and return at once."""
        self._calls += 1
        name = f"call-{self._calls}"
        xml = self.folder / f"{name}.xml"
        xml.write_text(scenario(plan))
        log = self.folder / f"{name}.log"
        for stale in (log, log.with_suffix(".errors")):
            stale.unlink(missing_ok=True)
        started = time.monotonic()
        proc = self._sipp(
            xml, ["-m", "1"], ["-trace_logs", "-log_file", str(log)], log.with_suffix(".errors")
        )
        return PlacedCall(proc, log, started)


def _load_counts(stats: Path) -> tuple[int, int]:
    """(successful, failed) calls from the last line of SIPp's statistics file."""
    if not stats.exists():
        return 0, 0
    lines = [line for line in stats.read_text(errors="replace").splitlines() if line.strip()]
    if len(lines) < 2:
        return 0, 0
    head, last = lines[0].split(";"), lines[-1].split(";")
    row = dict(zip(head, last, strict=False))
    return int(row.get("SuccessfulCall(C)", 0) or 0), int(row.get("FailedCall(C)", 0) or 0)


def _response_times(rtt: Path) -> list[float]:
    """Milliseconds of each timed response ("date_ms;response_time_ms;rtd_no" lines)."""
    if not rtt.exists():
        return []
    found = []
    for line in rtt.read_text(errors="replace").splitlines():
        parts = line.split(";")
        with contextlib.suppress(IndexError, ValueError):
            found.append(float(parts[1]))
    return found


def _digits(value: str) -> str:
    if not re.fullmatch(r"\+?[0-9]{1,20}", value):
        raise ValueError(f"not a phone number: {value!r}")
    return value


_SCENARIO = """<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="a citizen calls the hotline">
  <send retrans="500"{timed}>
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
  <recv response="200" rrs="true"{timed_end} timeout="{answer_ms}">
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
