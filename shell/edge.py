"""The SIP edge's controls, through Kamailio's own RPC (kamcmd over its ctl socket): which nodes it takes
for alive, and taking a node out of rotation for an upgrade and back in ('hotline node drain | resume')."""

from __future__ import annotations

import shutil
import subprocess

from hotline.errors import HotlineError
from hotline.kamailio import config as kamailio_config
from hotline.settings import Settings

KAMCMD_TIMEOUT = 10.0
# Kamailio's dispatcher states (its RPC dispatcher.set_state): a node out of rotation is disabled and not
# probed, so no probe brings it back before it is resumed; a resumed one is active and probed again.
DRAINED = "d"
RESUMED = "ap"


class EdgeError(HotlineError):
    pass


class EdgeControl:
    def __init__(self, settings: Settings) -> None:
        if not settings.nodes:
            raise EdgeError("the settings have no [[nodes]]: there is no edge to control")
        self.settings = settings
        self.address = kamailio_config.control(settings)

    def rpc(self, *command: str) -> str:
        if shutil.which("kamcmd") is None:
            raise EdgeError("kamcmd is not installed: apt-get install kamailio (Debian's package)")
        try:
            proc = subprocess.run(
                ["kamcmd", "-s", self.address, *command],
                capture_output=True,
                text=True,
                timeout=KAMCMD_TIMEOUT,
            )
        except subprocess.TimeoutExpired:
            raise EdgeError(f"the edge at {self.address} did not answer in {KAMCMD_TIMEOUT:.0f} s") from None
        if proc.returncode != 0:
            said = proc.stderr.strip() or proc.stdout.strip()
            raise EdgeError(f"the edge at {self.address}: kamcmd {' '.join(command)}: {said}")
        return proc.stdout

    def states(self) -> dict[str, str]:
        """Each node's state at the edge, by node name: Kamailio's flags ("AP": active and probed, "IP":
        inactive, taken for dead by its probes, "DX": drained)."""
        states: dict[str, str] = {}
        uri = ""
        for line in self.rpc("dispatcher.list").splitlines():
            key, _, value = line.strip().partition(":")
            if key == "URI":
                uri = value.strip()
            elif key == "FLAGS" and uri:
                states[self._node_of(uri)] = value.strip()
        return states

    def drain(self, node: str) -> None:
        """No new call goes to the node; its calls go on until they end."""
        self.rpc("dispatcher.set_state", DRAINED, str(kamailio_config.NODES_SET), self._uri(node))

    def resume(self, node: str) -> None:
        """The node takes calls again once it answers the edge's probes."""
        self.rpc("dispatcher.set_state", RESUMED, str(kamailio_config.NODES_SET), self._uri(node))

    def _uri(self, name: str) -> str:
        for node in self.settings.nodes:
            if node.name == name:
                return f"sip:{node.sip_address}"
        known = ", ".join(n.name for n in self.settings.nodes)
        raise EdgeError(f"no node {name!r} in [[nodes]] (known: {known})")

    def _node_of(self, uri: str) -> str:
        for node in self.settings.nodes:
            if uri == f"sip:{node.sip_address}":
                return node.name
        return uri
