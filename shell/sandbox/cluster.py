"""`hotline sandbox up` for a site with [[nodes]]: the multi-node layout on one machine.

The sandbox's own network (shell/sandbox/network.py) gives Kamailio, each Asterisk node and a carrier host
their own addresses; this machine is the center on the network's first address, where the hotline's
processes run (FastAGI, the bridge, the web app). Each node is a sandbox of its own (its Asterisk and
its agents' phones, registered to it), rendered from the same settings; Kamailio at the edge is Debian's.
"""

from __future__ import annotations

import ipaddress
import json
import shutil
import subprocess
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from hotline.errors import SandboxError
from hotline.kamailio import config as kamailio_config
from hotline.settings import Settings
from shell.edge import EdgeControl
from shell.sandbox import network, rootfs
from shell.sandbox.processes import alive, stop
from shell.sandbox.runner import Sandbox

Log = Callable[[str], None]
EDGE_READY_TIMEOUT = 20.0
CARRIER = "carrier"
EDGE = "edge"


@dataclass
class ClusterState:
    kamailio_pid: int = 0
    started_at: float = 0.0
    nodes: list[str] = field(default_factory=list)

    @classmethod
    def load(cls, path: Path) -> ClusterState | None:
        try:
            return cls(**json.loads(path.read_text()))
        except FileNotFoundError:
            return None
        except (ValueError, TypeError) as exc:
            raise SandboxError(f"{path} is damaged ({exc}); run 'hotline sandbox down --force'") from None

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(asdict(self), indent=2))
        tmp.replace(path)


class ClusterSandbox:
    def __init__(self, settings: Settings, log: Log = print) -> None:
        if not settings.nodes:
            raise SandboxError("the settings have no [[nodes]]: use the one-node sandbox")
        self.settings = settings
        self.log = log
        hosts = {EDGE: settings.edge.address, **{n.name: n.address for n in settings.nodes}}
        if settings.sandbox.carrier:
            hosts[CARRIER] = settings.sandbox.carrier
        self.network = network.TestNetwork(
            network.tag_for(settings.state_path), settings.sandbox.network, hosts
        )
        self.nodes = {
            name: Sandbox(settings.for_node(name), log, self.network.hosts[name])
            for name in settings.node_names
        }
        self.edge_path = settings.state_path / "kamailio"
        self.edge = EdgeControl(settings)
        self.state_file = settings.state_path / "sandbox" / "cluster.json"

    # -- public --------------------------------------------------------------------------------
    def up(self) -> ClusterState:
        rootfs.check_host()
        self._check_settings()
        if shutil.which("kamailio") is None:
            raise SandboxError("kamailio is not installed: apt-get install kamailio (Debian's package)")
        state = ClusterState.load(self.state_file)
        if state and alive(state.kamailio_pid, "kamailio") and self._nodes_running():
            self.log("sandbox: the nodes and the edge already run")
            return state
        self.down()
        started = time.monotonic()
        self.network.create()
        state = ClusterState(started_at=time.time(), nodes=list(self.nodes))
        state.save(self.state_file)
        try:
            for name, node in self.nodes.items():
                self.log(f"sandbox: node {name} at {self.network.hosts[name].address}")
                node.up()
            state.kamailio_pid = self._start_kamailio()
            state.save(self.state_file)
            self.wait_edge(active=list(self.nodes))
        except BaseException:
            self.down()
            raise
        self.log(f"sandbox: {len(self.nodes)} nodes behind the edge up in {time.monotonic() - started:.1f} s")
        return state

    def down(self) -> None:
        state = ClusterState.load(self.state_file)
        for node in self.nodes.values():
            node.down()
        if state is not None:
            stop(state.kamailio_pid, "kamailio", self.log, "kamailio", timeout=5.0)
        self.network.remove(self.log)
        self.state_file.unlink(missing_ok=True)

    def status(self) -> dict[str, object]:
        state = ClusterState.load(self.state_file)
        running = state is not None and alive(state.kamailio_pid, "kamailio")
        return {
            "running": running,
            "kamailio_pid": state.kamailio_pid if state else 0,
            "edge": self.dispatcher() if running else {},
            "nodes": {name: node.status() for name, node in self.nodes.items()},
        }

    def node(self, name: str) -> Sandbox:
        return self.nodes[name]

    def host(self, name: str) -> network.Host:
        return self.network.hosts[name]

    def dispatcher(self) -> dict[str, str]:
        """Each node's state as the edge sees it (shell/edge.py)."""
        return self.edge.states()

    def wait_edge(self, active: list[str], timeout: float = EDGE_READY_TIMEOUT) -> float:
        """Until the edge takes exactly the `active` nodes for alive; the seconds it took."""
        started = time.monotonic()
        wanted = set(active)
        seen: dict[str, str] = {}
        while time.monotonic() - started < timeout:
            seen = self.dispatcher()
            if {n for n, flags in seen.items() if flags == "AP"} == wanted:
                return time.monotonic() - started
            time.sleep(0.2)
        raise SandboxError(f"the edge did not see {sorted(wanted)} alive in {timeout:.0f} s: {seen}")

    @property
    def edge_log(self) -> Path:
        return self.edge_path / "kamailio.log"

    # -- steps ---------------------------------------------------------------------------------
    def _check_settings(self) -> None:
        """The center must be able to reach the nodes and be reached by them: say which setting when it
        cannot."""
        center = ipaddress.ip_address(self.network.center)
        s = self.settings
        if center not in s.ami.permit_network:
            raise SandboxError(
                f"[ami] permit = {s.ami.permit!r} does not let the center ({center}) log in to the nodes' "
                f'AMI: set permit = "{self.network.network}"'
            )
        if s.agi.host != str(center):
            raise SandboxError(
                f"[agi] host = {s.agi.host!r}: the nodes reach the FastAGI server at the center, "
                f'{center}: set host = "{center}"'
            )

    def _nodes_running(self) -> bool:
        return all(node.status().get("ready") for node in self.nodes.values())

    def _start_kamailio(self) -> int:
        self.edge_path.mkdir(parents=True, exist_ok=True)
        config = kamailio_config.render(self.settings)[-1]
        control = kamailio_config.control_socket(self.settings)
        if control is None:
            raise SandboxError("[edge] control: the sandbox's edge takes its commands on a UNIX socket")
        control.parent.mkdir(parents=True, exist_ok=True)
        control.unlink(missing_ok=True)
        program = ["kamailio", "-f", str(config), "-DD", "-E", "-Y", str(self.edge_path)]
        check = subprocess.run(
            ["kamailio", "-c", "-f", str(config)], capture_output=True, text=True, timeout=20
        )
        if check.returncode != 0:
            raise SandboxError(f"{config} is not valid for Kamailio:\n{check.stderr.strip()[-2000:]}")
        with self.edge_log.open("ab") as log:
            proc = subprocess.Popen(
                self.network.hosts[EDGE].command(program),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + 10
        while not control.exists():
            if proc.poll() is not None or time.monotonic() > deadline:
                raise SandboxError(f"Kamailio did not start; see {self.edge_log}")
            time.sleep(0.1)
        self.log(f"sandbox: kamailio at {self.settings.edge.sip_address} (pid {proc.pid})")
        return proc.pid
