"""The multi-node layout on the sandbox: two Asterisk nodes behind Kamailio, a carrier placing calls with
SIPp, each on its own address in network namespaces the sandbox makes and removes (shell/sandbox/cluster.py).
The site is the tests' own, with its state in var/cluster."""

from __future__ import annotations

from pathlib import Path

from hotline import settings
from hotline.settings import Settings
from shell.sandbox.carrier import CallPlan, Carrier
from shell.sandbox.cluster import CARRIER, ClusterSandbox
from tests.space import TEST_SETTINGS

NETWORK = "10.201.0.0/24"
CENTER = "10.201.0.1"
EDGE = "10.201.0.10"
NODES = {"a": "10.201.0.11", "b": "10.201.0.12"}
CARRIER_ADDRESS = "10.201.0.20"

OVERRIDES: dict[str, object] = {
    "state_dir": "../var/cluster",
    "config_dir": "../var/cluster/asterisk-config",
    "database.url": "sqlite+aiosqlite:///../var/cluster/hotline.db",
    "recordings.dir": "../var/cluster/recordings",
    "nodes": [{"name": name, "address": address} for name, address in NODES.items()],
    "edge": {"address": EDGE, "carriers": [CARRIER_ADDRESS]},
    "sandbox.network": NETWORK,
    "sandbox.carrier": CARRIER_ADDRESS,
    "ami.permit": NETWORK,
    "agi.host": CENTER,
}


def cluster_site(**more: object) -> Settings:
    return settings.load(TEST_SETTINGS, overrides={**OVERRIDES, **more})


def carrier(cluster: ClusterSandbox, folder: Path) -> Carrier:
    return Carrier(cluster.host(CARRIER), cluster.settings.edge.sip_address, folder)


def node_named(address: str) -> str:
    return next((name for name, known in NODES.items() if known == address), address)


__all__ = ["CallPlan", "carrier", "cluster_site", "node_named"]
