"""The sandbox's processes: which are alive, which are ours, and how they are stopped.

A pid alone says little (pids are recycled, and several sites may run a sandbox from the same root), so a
process is ours when it runs the program we started, chrooted into our root, with our site's paths on its
command line.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

Log = Callable[[str], None]


@dataclass(frozen=True)
class RootedProcess:
    pid: int
    program: str
    args: tuple[str, ...]


def alive(pid: int, name: str) -> bool:
    """True if pid runs a program called name, or the wrappers that become it by exec (unshare, sh,
    chroot, nsenter: the program is one of their arguments); a recycled pid of another program is not
    ours. A zombie is not alive."""
    if pid <= 0:
        return False
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    if cmdline == [b""]:
        # No command line: a zombie, a kernel thread, or a process in the middle of an exec.
        return _execing(pid)
    return any(Path(arg.decode(errors="replace")).name == name for arg in cmdline)


_PF_KTHREAD = 0x00200000


def _execing(pid: int) -> bool:
    try:
        stat_line = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    fields = stat_line.rpartition(")")[2].split()  # after the name, which may hold spaces
    state, flags = fields[0], int(fields[6])
    return state not in ("Z", "X") and not flags & _PF_KTHREAD


def in_root(root: Path) -> Iterator[RootedProcess]:
    """Every process chrooted into `root`, whatever mount namespace it lives in."""
    wanted = str(root)
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if os.readlink(entry / "root") != wanted:
                continue
            args = tuple(
                a.decode(errors="replace") for a in (entry / "cmdline").read_bytes().split(b"\0") if a
            )
        except OSError:  # gone meanwhile, or a kernel thread
            continue
        if args:
            yield RootedProcess(int(entry.name), Path(args[0]).name, args)


def shares_mount_namespace(pid: int) -> bool:
    """True if pid sees the mounts this process sees (a sandbox of an older version, which mounted into
    the host's namespace)."""
    try:
        return os.readlink(f"/proc/{pid}/ns/mnt") == os.readlink("/proc/self/ns/mnt")
    except OSError:
        return False


def stop(pid: int, name: str, log: Log, label: str, timeout: float = 10.0) -> None:
    """SIGTERM, then SIGKILL after `timeout`; a pid that no longer runs `name` is left alone."""
    if not alive(pid, name):
        reap(pid)
        return
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            break
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and alive(pid, name):
            reap(pid)
            time.sleep(0.1)
        if not alive(pid, name):
            break
        log(f"sandbox: {label} (pid {pid}) still running {timeout:.0f} s after SIGTERM; killing it")
    reap(pid)


def reap(pid: int) -> None:
    """Collect our own child so it does not linger as a zombie (other processes' children are not ours)."""
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)
