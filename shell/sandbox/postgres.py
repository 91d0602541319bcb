"""A PostgreSQL cluster of one's own, to stop and start at will: the outage tests and the benchmark's
fault run take the database away from a running hotline without touching the machine's own server."""

from __future__ import annotations

import contextlib
import glob
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from hotline.errors import SandboxError


@dataclass
class Cluster:
    folder: Path
    port: int
    bin: Path

    @property
    def url(self) -> str:
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/postgres"

    def _ctl(self, *args: str) -> None:
        command = [str(self.bin / "pg_ctl"), "-D", str(self.folder / "data"), *args]
        subprocess.run(["su", "postgres", "-s", "/bin/sh", "-c", " ".join(command)], check=True, timeout=60)

    def start(self) -> None:
        options = f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1"
        self._ctl("-w", "-l", str(self.folder / "log"), "-o", f"'{options}'", "start")

    def stop(self) -> None:
        self._ctl("-m", "fast", "-w", "stop")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def throwaway_cluster() -> Iterator[Cluster]:
    """A new cluster on a free port, started (as root: it runs as the postgres user); removed afterwards."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(Path(p).parent.name))
    if not found:
        raise SandboxError("PostgreSQL's programs are missing; scripts/test installs Debian's postgresql")
    folder = Path(tempfile.mkdtemp(prefix="hotline-pg-"))
    shutil.chown(folder, "postgres")
    initdb = f"{found[-1]}/initdb -D {folder}/data -A trust -U postgres"
    subprocess.run(["su", "postgres", "-s", "/bin/sh", "-c", initdb], check=True, capture_output=True)
    pg = Cluster(folder, _free_port(), Path(found[-1]))
    pg.start()
    try:
        yield pg
    finally:
        try:
            pg.stop()
        finally:
            shutil.rmtree(folder, ignore_errors=True)
