"""The sandbox's own network for several nodes: one network namespace per host (the edge, each Asterisk
node, the carrier), joined by a bridge on which this machine (the center: the hotline's processes) holds
the network's first address.

Every name carries a tag made from the site's state folder, so two sites never touch each other's hosts and
a run that was killed is cleaned up by the next (`remove` finds its namespaces and bridge by name). Nothing
is routed beyond the bridge: the hosts reach each other and the center, and no other address.
"""

from __future__ import annotations

import contextlib
import hashlib
import ipaddress
import os
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from hotline.errors import SandboxError

Log = Callable[[str], None]
NETNS_DIR = Path("/run/netns")
KILL_WAIT = 5.0  # seconds the processes left in a namespace get to end after SIGKILL


@dataclass(frozen=True)
class Host:
    name: str  # "edge", a node's name, "carrier"
    address: str
    namespace: str
    link: str  # the host end of its veth pair, on the bridge (at most 15 characters)

    def command(self, program: list[str]) -> list[str]:
        """`program` run inside this host's network (its only network: nothing else changes)."""
        return ["nsenter", f"--net={NETNS_DIR / self.namespace}", "--", *program]


def tag_for(state_path: Path) -> str:
    return hashlib.sha256(str(state_path.resolve()).encode()).hexdigest()[:6]


class TestNetwork:
    def __init__(self, tag: str, network: str, hosts: dict[str, str]) -> None:
        self.tag = tag
        self.network = ipaddress.ip_network(network, strict=True)
        if not isinstance(self.network, ipaddress.IPv4Network):
            raise SandboxError(f"[sandbox] network {network}: an IPv4 network, e.g. 10.201.0.0/24")
        self.center = str(next(self.network.hosts()))
        self.bridge = f"hl{tag}br"
        self.hosts: dict[str, Host] = {}
        for index, (name, address) in enumerate(hosts.items()):
            if ipaddress.ip_address(address) not in self.network or address == self.center:
                raise SandboxError(
                    f"{name} at {address}: the sandbox's hosts need addresses inside [sandbox] network "
                    f"{self.network}, other than {self.center} (the center's)"
                )
            self.hosts[name] = Host(name, address, f"hl{tag}-{name}", f"hl{tag}h{index}")

    # -- lifecycle -----------------------------------------------------------------------------
    def create(self) -> None:
        """The bridge with the center's address, and each host's namespace on it; what a killed run of
        this site left goes first."""
        self.remove()
        prefix = self.network.prefixlen
        _ip("link", "add", self.bridge, "type", "bridge")
        _ip("addr", "add", f"{self.center}/{prefix}", "dev", self.bridge)
        _ip("link", "set", self.bridge, "up")
        for host in self.hosts.values():
            _ip("netns", "add", host.namespace)
            _ip("link", "add", host.link, "type", "veth", "peer", "name", "eth0", "netns", host.namespace)
            _ip("link", "set", host.link, "master", self.bridge, "up")
            _ip("-n", host.namespace, "addr", "add", f"{host.address}/{prefix}", "dev", "eth0")
            _ip("-n", host.namespace, "link", "set", "lo", "up")
            _ip("-n", host.namespace, "link", "set", "eth0", "up")

    def remove(self, log: Log | None = None) -> bool:
        """Every namespace and the bridge of this site's tag, with whatever still runs in them; True if
        anything was there."""
        found = False
        for namespace in self.namespaces():
            found = True
            _kill_inside(namespace, log)
            _ip("netns", "del", namespace, check=False)
        # The kernel destroys a deleted namespace (and the veth ends in it) in the background: the host ends
        # go now, so that an `up` right after finds their names free.
        for link in [host.link for host in self.hosts.values()] + [self.bridge]:
            if Path(f"/sys/class/net/{link}").exists():
                found = True
                _ip("link", "del", link, check=False)
        return found

    def namespaces(self) -> list[str]:
        prefix = f"hl{self.tag}-"
        with contextlib.suppress(FileNotFoundError):
            return sorted(p.name for p in NETNS_DIR.iterdir() if p.name.startswith(prefix))
        return []

    # -- faults --------------------------------------------------------------------------------
    def cut(self, name: str) -> None:
        """Unplug a host: its processes run on and see their link go down; nobody reaches them."""
        _ip("link", "set", self.hosts[name].link, "down")

    def mend(self, name: str) -> None:
        _ip("link", "set", self.hosts[name].link, "up")

    def pids(self, name: str) -> list[int]:
        """Every process running in a host's namespace (a program and the workers it forked)."""
        return _pids_in(self.hosts[name].namespace)

    def kill_inside(self, name: str) -> None:
        """The host dies: every process in its namespace is killed with -9."""
        _kill_inside(self.hosts[name].namespace, None)


def _ip(*args: str, check: bool = True) -> None:
    proc = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=10)
    if check and proc.returncode != 0:
        raise SandboxError(f"ip {' '.join(args)}: {proc.stderr.strip() or proc.stdout.strip()}")


def _pids_in(namespace: str) -> list[int]:
    proc = subprocess.run(["ip", "netns", "pids", namespace], capture_output=True, text=True, timeout=10)
    return [int(p) for p in proc.stdout.split() if p.isdigit()]


def _kill_inside(namespace: str, log: Log | None) -> None:
    """A namespace is removed only empty of processes: what its run left there is killed (it is the
    sandbox's own: nothing else runs in a namespace of its name)."""
    pids = _pids_in(namespace)
    if pids and log:
        log(f"sandbox: stopping {len(pids)} process(es) left in {namespace}")
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + KILL_WAIT
    while _pids_in(namespace) and time.monotonic() < deadline:
        for pid in pids:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, os.WNOHANG)
        time.sleep(0.1)
