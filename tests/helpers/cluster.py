"""The multi-node layout on the sandbox: two Asterisk nodes behind Kamailio, a carrier placing calls with
SIPp, each on its own address in network namespaces the sandbox makes and removes (shell/sandbox/cluster.py).
The site is the tests' own, with its state in var/cluster (the benchmark's in a folder and network of its
own)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

from hotline import settings
from hotline.settings import Settings
from shell.sandbox.carrier import CallPlan, Carrier
from shell.sandbox.cluster import CARRIER, ClusterSandbox
from tests.space import TEST_SETTINGS

NODE_NAMES = ("a", "b")


def addresses(prefix: str = "10.201.0") -> dict[str, str]:
    """The center (the network's first address), the edge, each node and the carrier."""
    return {
        "center": f"{prefix}.1",
        "edge": f"{prefix}.10",
        "a": f"{prefix}.11",
        "b": f"{prefix}.12",
        "carrier": f"{prefix}.20",
    }


NODES = {name: addresses()[name] for name in NODE_NAMES}


def cluster_site(prefix: str = "10.201.0", state: str = "../var/cluster", **more: object) -> Settings:
    where = addresses(prefix)
    overrides: dict[str, object] = {
        "state_dir": state,
        "config_dir": f"{state}/asterisk-config",
        "database.url": f"sqlite+aiosqlite:///{state}/hotline.db",
        "recordings.dir": f"{state}/recordings",
        "nodes": [{"name": name, "address": where[name]} for name in NODE_NAMES],
        "edge": {"address": where["edge"], "carriers": [where["carrier"]]},
        "sandbox.network": f"{prefix}.0/24",
        "sandbox.carrier": where["carrier"],
        "ami.permit": f"{prefix}.0/24",
        "agi.host": where["center"],
        # A cut link shows as unanswered pings: within two of them.
        "ami.ping_seconds": 2.0,
    }
    return settings.load(TEST_SETTINGS, overrides={**overrides, **more})


@contextlib.contextmanager
def running_cluster(site: Settings) -> Iterator[ClusterSandbox]:
    """The nodes and the edge up for a module of tests; down after it."""
    box = ClusterSandbox(site)
    box.up()
    try:
        yield box
    finally:
        box.down()


def carrier(cluster: ClusterSandbox, folder: Path) -> Carrier:
    return Carrier(cluster.host(CARRIER), cluster.settings.edge.sip_address, folder)


def node_named(address: str, prefix: str = "10.201.0") -> str:
    known = addresses(prefix)
    return next((name for name in NODE_NAMES if known[name] == address), address)


__all__ = ["CallPlan", "carrier", "cluster_site", "node_named", "running_cluster"]
