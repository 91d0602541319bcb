"""A PostgreSQL primary and standby under Patroni, with etcd as its store of who leads, each in a network
namespace of its own on a bridge where this machine (the center) holds the first address: what the
database fail-over drills and benchmarks stop, kill and cut off, without touching the machine's own
PostgreSQL.

Patroni runs with synchronous replication (`synchronous_mode`): a commit the hotline was told of is on the
standby too, so promoting it loses nothing that was acknowledged. The hotline finds the writer with a
multi-host URL (`target_session_attrs=read-write`), as a site would. Every process runs inside its host's
namespace; `down` (and the next `up`) kills what a killed run left there."""

from __future__ import annotations

import contextlib
import glob
import json
import shutil
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hotline.errors import SandboxError
from shell.sandbox.network import TestNetwork, tag_for

Log = Callable[[str], None]
PG_PORT = 5432
REST_PORT = 8008
ETCD_PORT = 2379
# Patroni's timers (its defaults are 30 s, 10 s, 10 s): the leader key lives `ttl` seconds; the loop runs
# every `loop_wait`; a store or database call is given up after `retry_timeout`. ttl >= loop_wait +
# 2 * retry_timeout, as Patroni requires.
TTL, LOOP_WAIT, RETRY_TIMEOUT = 10, 2, 4
START_SECONDS = 90.0


def _bin_dir() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(Path(p).parent.name))
    if not found:
        raise SandboxError("PostgreSQL's programs are missing; scripts/test installs Debian's postgresql")
    return Path(found[-1])


def _get_json(url: str) -> dict[str, Any]:
    """A JSON object from a REST API inside the test network ({} when it does not answer)."""
    try:
        with urllib.request.urlopen(url, timeout=2) as reply:
            found = json.loads(reply.read())
    except (OSError, urllib.error.URLError, ValueError):
        return {}
    return found if isinstance(found, dict) else {}


@dataclass
class PatroniCluster:
    """`folder` holds the data, the logs and the configuration; `network` an IPv4 /24 of its own."""

    folder: Path
    network: str = "10.203.0.0/24"
    members: tuple[str, ...] = ("pg1", "pg2")
    database: str = "hotline"
    net: TestNetwork = field(init=False)
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.folder = self.folder.resolve()
        base = self.network.rsplit(".", 1)[0]
        hosts = {"etcd": f"{base}.10", **{m: f"{base}.{11 + i}" for i, m in enumerate(self.members)}}
        self.net = TestNetwork(tag_for(self.folder), self.network, hosts)

    # -- addresses ---------------------------------------------------------------------------------
    def address(self, host: str) -> str:
        return self.net.hosts[host].address

    @property
    def url(self) -> str:
        """The hotline's URL: every member, the writer found by libpq's rule."""
        hosts = "&".join(f"host={self.address(m)}:{PG_PORT}" for m in self.members)
        return f"postgresql+asyncpg://postgres@/{self.database}?{hosts}&target_session_attrs=read-write"

    def member_url(self, member: str, database: str | None = None) -> str:
        return f"postgresql://postgres@{self.address(member)}:{PG_PORT}/{database or self.database}"

    # -- lifecycle ---------------------------------------------------------------------------------
    def up(self, log: Log = print) -> None:
        """etcd, then each member's Patroni; returns once a primary answers and the database exists."""
        self.down()
        self.folder.mkdir(parents=True, exist_ok=True)
        self.net.create()
        self._start_etcd()
        for member in self.members:
            self._write_config(member)
            self.start(member)
        leader = self.wait_for_primary(START_SECONDS)
        self._create_database(leader)
        for member in self.members:
            if member != leader:
                self.wait_for_streaming(member, START_SECONDS)
        log(f"database cluster up: primary {leader} ({self.address(leader)}), standby streaming")

    def down(self) -> None:
        for proc in self.procs.values():
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
        for proc in self.procs.values():
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(5)
        self.procs.clear()
        self.net.remove()
        if self.folder.is_dir():
            shutil.rmtree(self.folder, ignore_errors=True)

    def start(self, member: str) -> None:
        """Start (or start again) a member's Patroni, which starts its PostgreSQL as primary or standby."""
        config = self.folder / member / "patroni.yml"
        command = ["runuser", "-u", "postgres", "--", "/usr/bin/patroni", str(config)]
        log = (self.folder / member / "patroni.log").open("ab")
        self.procs[member] = subprocess.Popen(
            self.net.hosts[member].command(command), stdout=log, stderr=subprocess.STDOUT
        )

    def kill(self, member: str) -> None:
        """The machine dies: Patroni and PostgreSQL are killed with -9, nothing is shut down cleanly."""
        self.net.kill_inside(member)
        proc = self.procs.pop(member, None)
        if proc is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(5)

    def cut(self, member: str) -> None:
        self.net.cut(member)

    def mend(self, member: str) -> None:
        self.net.mend(member)

    # -- state -----------------------------------------------------------------------------------
    def role(self, member: str) -> str:
        """'primary', 'replica', or '' when its Patroni does not answer (from its REST API)."""
        state = self._state(member)
        role = str(state.get("role", "")) if state.get("state") == "running" else ""
        return "primary" if role == "master" else role  # Patroni 3.0 still says master

    def primary(self) -> str:
        """The member that is primary now, or ''."""
        return next((m for m in self.members if self.role(m) == "primary"), "")

    def wait_for_primary(self, seconds: float, other_than: str = "") -> str:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            leader = self.primary()
            if leader and leader != other_than:
                return leader
            time.sleep(0.2)
        raise SandboxError(f"no PostgreSQL primary within {seconds:.0f} s; see {self.folder}/*/patroni.log")

    def wait_for_streaming(self, member: str, seconds: float) -> None:
        """Until `member` is the synchronous standby in etcd's word (a commit waits for it, and only it may
        be promoted)."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            cluster = _get_json(f"http://{self.address(member)}:{REST_PORT}/cluster")
            for peer in cluster.get("members", []):
                if peer.get("name") == member and peer.get("role") == "sync_standby":
                    return
            time.sleep(0.3)
        raise SandboxError(f"{member} is not the primary's synchronous standby within {seconds:.0f} s")

    def _state(self, member: str) -> dict[str, Any]:
        return _get_json(f"http://{self.address(member)}:{REST_PORT}/patroni") if member else {}

    # -- the parts -------------------------------------------------------------------------------
    def _start_etcd(self) -> None:
        data = self.folder / "etcd"
        data.mkdir(parents=True, exist_ok=True)
        me = self.address("etcd")
        command = [
            "etcd",
            "--name=etcd",
            f"--data-dir={data}",
            f"--listen-client-urls=http://{me}:{ETCD_PORT}",
            f"--advertise-client-urls=http://{me}:{ETCD_PORT}",
            f"--listen-peer-urls=http://{me}:2380",
            f"--initial-advertise-peer-urls=http://{me}:2380",
            f"--initial-cluster=etcd=http://{me}:2380",
            "--initial-cluster-state=new",
        ]
        log = (self.folder / "etcd.log").open("ab")
        self.procs["etcd"] = subprocess.Popen(
            self.net.hosts["etcd"].command(command), stdout=log, stderr=subprocess.STDOUT
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            health = f"http://{me}:{ETCD_PORT}/health"
            with (
                contextlib.suppress(OSError, urllib.error.URLError),
                urllib.request.urlopen(health, timeout=2) as r,
            ):
                if json.loads(r.read()).get("health") == "true":
                    return
            time.sleep(0.2)
        raise SandboxError(f"etcd did not start; see {self.folder}/etcd.log")

    def _write_config(self, member: str) -> None:
        home = self.folder / member
        home.mkdir(parents=True, exist_ok=True)
        me = self.address(member)
        config = {
            "scope": f"hotline-{self.net.tag}",
            "name": member,
            "log": {"level": "INFO"},
            "restapi": {"listen": f"{me}:{REST_PORT}", "connect_address": f"{me}:{REST_PORT}"},
            "etcd3": {"hosts": [f"{self.address('etcd')}:{ETCD_PORT}"]},
            "bootstrap": {
                "dcs": {
                    "ttl": TTL,
                    "loop_wait": LOOP_WAIT,
                    "retry_timeout": RETRY_TIMEOUT,
                    "maximum_lag_on_failover": 1 << 20,
                    "synchronous_mode": True,
                    "postgresql": {
                        "use_pg_rewind": True,
                        "parameters": {
                            "wal_level": "replica",
                            "hot_standby": "on",
                            "wal_log_hints": "on",
                            "max_wal_senders": 5,
                            "max_replication_slots": 5,
                            "max_connections": 200,
                        },
                    },
                },
                "initdb": [{"encoding": "UTF8"}, {"locale": "C.UTF-8"}],
                "pg_hba": [
                    f"host replication replicator {self.network} trust",
                    f"host all all {self.network} trust",
                    "local all all trust",
                ],
            },
            "postgresql": {
                "listen": f"{me}:{PG_PORT}",
                "connect_address": f"{me}:{PG_PORT}",
                "data_dir": str(home / "data"),
                "bin_dir": str(_bin_dir()),
                "pgpass": str(home / "pgpass"),
                # A new standby's copy starts at once, not after a checkpoint spread over minutes.
                "basebackup": [{"checkpoint": "fast"}],
                "authentication": {
                    "replication": {"username": "replicator", "password": "replicator"},
                    "superuser": {"username": "postgres", "password": "postgres"},
                },
                # Its own socket folder: the machine's PostgreSQL owns /var/run/postgresql's 5432.
                "parameters": {"unix_socket_directories": str(home)},
            },
        }
        # JSON is YAML: no YAML writer needed.
        (home / "patroni.yml").write_text(json.dumps(config, indent=2))
        shutil.chown(self.folder, "postgres")
        for path in (home, *home.iterdir()):
            shutil.chown(path, "postgres")
        home.chmod(0o700)

    def _psql(self, member: str, sql: str, database: str | None = None) -> str:
        command = ["psql", "-qAtX", "-d", self.member_url(member, database), "-c", sql]
        proc = subprocess.run(command, capture_output=True, text=True, timeout=15)
        return proc.stdout.strip() if proc.returncode == 0 else ""

    def _create_database(self, leader: str) -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self._psql(leader, f"SELECT 1 FROM pg_database WHERE datname = '{self.database}'", "postgres"):
                return
            command = ["psql", "-qAtX", "-d", self.member_url(leader, "postgres"), "-c"]
            subprocess.run([*command, f'CREATE DATABASE "{self.database}"'], capture_output=True, timeout=15)
            time.sleep(0.3)
        raise SandboxError(f"could not create the database {self.database} on {leader}")

    def writable_inside(self, member: str) -> bool | None:
        """Whether the member's PostgreSQL takes writes, asked from inside its own host (which a cut
        link does not keep from it); None when it does not answer."""
        command = [
            "psql",
            "-qAtX",
            "-d",
            self.member_url(member, "postgres"),
            "-c",
            "SELECT pg_is_in_recovery()",
        ]
        try:
            proc = subprocess.run(
                self.net.hosts[member].command(command), capture_output=True, text=True, timeout=3
            )
        except subprocess.TimeoutExpired:
            return None
        answer = proc.stdout.strip()
        return None if proc.returncode or answer not in ("t", "f") else answer == "f"

    def sql(self, member: str, statement: str) -> str:
        """A statement on one member (its answer, '' if it failed): what the drills look at."""
        return self._psql(member, statement)
