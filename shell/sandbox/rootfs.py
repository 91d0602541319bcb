"""Build the Debian sid root that carries the sandbox Asterisk 22 and the baresip phones.

Debian 12 ships no Asterisk; sid ships 22.x. The root is built once into a cache folder outside the
repository and reused until it is deleted or its package list changes.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

from hotline.errors import SandboxError

PACKAGES = (
    "asterisk",
    "asterisk-core-sounds-en-gsm",
    "asterisk-moh-opsound-gsm",
    "baresip-core",
    "sox",
    "procps",
)
# The archive's sid Release file can be older than the clock; apt refuses it without this option.
APT_OPTS = ("-o", "Acquire::Check-Valid-Until=false", "-o", "Acquire::Retries=3")
STAMP = ".hotline-sandbox-ready"


def stamp_text() -> str:
    return "packages=" + ",".join(PACKAGES) + "\n"


def is_ready(root: Path) -> bool:
    stamp = root / STAMP
    return stamp.is_file() and stamp.read_text() == stamp_text()


def host_mirror(sources_dir: Path = Path("/etc/apt")) -> str:
    """The Debian mirror this machine already uses; never a hard-coded host."""
    candidates: list[str] = []
    deb822 = sources_dir / "sources.list.d" / "debian.sources"
    if deb822.is_file():
        candidates += re.findall(r"^URIs:\s*(\S+)", deb822.read_text(), flags=re.M)
    legacy = sources_dir / "sources.list"
    if legacy.is_file():
        candidates += re.findall(r"^deb\s+(?:\[[^\]]*\]\s+)?(\S+)", legacy.read_text(), flags=re.M)
    for uri in candidates:
        if "security" not in uri:
            return uri.rstrip("/")
    raise SandboxError(
        "cannot find a Debian mirror in /etc/apt/sources.list.d/debian.sources or /etc/apt/sources.list; "
        "set HOTLINE_DEBIAN_MIRROR to a Debian mirror URL"
    )


def check_host() -> None:
    """The sandbox needs root, Debian tooling and chroot; say what to do instead when it cannot work."""
    if os.geteuid() != 0:
        raise SandboxError(
            "the sandbox Asterisk needs root (it uses debootstrap, chroot and bind mounts). Run as root, "
            "or point [ami] and [agi] in hotline.toml at an existing Asterisk 22 and skip the sandbox"
        )
    if not Path("/etc/debian_version").is_file():
        raise SandboxError(
            "the sandbox is built with Debian's debootstrap and needs a Debian host; on another system point "
            "[ami] and [agi] in hotline.toml at an existing Asterisk 22 instead"
        )


def build(root: Path, log: Callable[[str], None] = print) -> None:
    """Build the root if it is missing or stale. Builds into a side folder, so a crash never leaves a
    half-built root that looks ready."""
    if is_ready(root):
        return
    check_host()
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    if (root / STAMP).is_file():
        # A root from an earlier package list: add what is missing in place instead of rebuilding.
        log(f"sandbox: updating the packages in {root}")
        _install(root, log, env)
        (root / STAMP).write_text(stamp_text())
        return
    if shutil.which("debootstrap") is None:
        _run(["apt-get", "install", "-y", "-q", "debootstrap"], log)
    mirror = os.environ.get("HOTLINE_DEBIAN_MIRROR") or host_mirror()
    work = root.with_name(root.name + ".building")
    if work.exists():
        _unmount_below(work)
        shutil.rmtree(work)
    work.parent.mkdir(parents=True, exist_ok=True)
    log(f"sandbox: building Debian sid root in {work} from {mirror}")
    _run(["debootstrap", "--variant=minbase", "--include=ca-certificates", "sid", str(work), mirror], log)
    policy = work / "usr/sbin/policy-rc.d"  # keep package scripts from starting services in the chroot
    policy.write_text("#!/bin/sh\nexit 101\n")
    policy.chmod(0o755)
    _install(work, log, env)
    (work / STAMP).write_text(stamp_text())
    if root.exists():
        _unmount_below(root)
        shutil.rmtree(root)
    work.rename(root)
    log(f"sandbox: root ready in {root}")


def _install(root: Path, log: Callable[[str], None], env: dict[str, str]) -> None:
    _run(["chroot", str(root), "apt-get", *APT_OPTS, "update", "-q"], log, env=env)
    install = ["apt-get", *APT_OPTS, "install", "-y", "-q", "--no-install-recommends", *PACKAGES]
    _run(["chroot", str(root), *install], log, env=env)
    _run(["chroot", str(root), "apt-get", "clean"], log, env=env)


def _unmount_below(path: Path) -> None:
    """Never delete through a live bind mount (it would delete the host's files)."""
    mounts = [line.split()[1] for line in Path("/proc/mounts").read_text().splitlines()]
    for mount in sorted((m for m in mounts if m == str(path) or m.startswith(f"{path}/")), reverse=True):
        subprocess.run(["umount", "-l", mount], check=False)


def _run(cmd: list[str], log: Callable[[str], None], env: dict[str, str] | None = None) -> None:
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-15:])
        raise SandboxError(f"sandbox build step failed ({' '.join(cmd[:4])} ...):\n{tail}")
