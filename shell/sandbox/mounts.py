"""The sandbox's mounts: what is mounted where inside the root, and the mount namespace that holds them.

The mounts live in a private mount namespace that Asterisk starts in and the phones and CLI commands
enter. The kernel removes them when the last process in it ends, so a failed or killed run leaves nothing
mounted, and sites that share one root (the tests run several) never see or stack each other's mounts.
"""

from __future__ import annotations

import os
import shlex
import stat
import subprocess
from dataclasses import dataclass
from pathlib import Path

from hotline.errors import SandboxError
from hotline.settings import Settings

# Asterisk runs as its own user inside the root and must pass through every folder on the way to its
# mounts. These folders are the root's own and empty: only the mounted folders hold data, and those keep
# the modes and owners the host gave them.
_TRAVERSE = 0o011  # group and others may pass through, not list
MOUNT_POINT_MODE = 0o755


@dataclass(frozen=True)
class Mount:
    args: tuple[str, ...]  # mount(8)'s arguments before the target
    target: Path  # where, as an absolute path below the root

    def command(self) -> list[str]:
        return ["mount", *self.args, str(self.target)]


def plan(settings: Settings, root: Path) -> list[Mount]:
    """The config, state and recordings at the same paths inside as on the host (a file name Asterisk
    writes means the same file outside); the site's Vietnamese prompts where Asterisk looks for them."""
    mounts = [Mount(("-t", "proc", "proc"), root / "proc"), Mount(("--bind", "/dev"), root / "dev")]
    shared = {settings.config_path, settings.state_path, settings.recordings_path}
    for host_dir in sorted(shared):  # a parent before a folder inside it
        mounts.append(Mount(("--bind", str(host_dir)), root / str(host_dir).lstrip("/")))
    sounds = root / "usr/share/asterisk/sounds/vi"
    mounts.append(Mount(("--bind", str(settings.sounds_path / "vi")), sounds))
    return mounts


def make_mount_points(root: Path, mounts: list[Mount]) -> None:
    """Create each mount point and the folders leading to it inside the root, passable by Asterisk's user
    whatever the umask, and repair those an earlier version made too tight (0750 under umask 027, or the
    root's own 0700 /root). Only the root's own folders are touched, never a mounted host folder."""
    for mount in mounts:
        path = root
        for part in mount.target.relative_to(root).parts:
            path = path / part
            if path.is_symlink():
                # A mount through a link would land wherever it points, possibly outside the root.
                raise SandboxError(
                    f"{path} is a symbolic link inside the sandbox root: the sandbox cannot mount a folder "
                    "there. Keep the hotline's folders at paths without links, or use another [sandbox] root"
                )
            if os.path.ismount(path):
                raise SandboxError(
                    f"{path} is mounted on the host, left by an earlier version's sandbox that still runs "
                    "or did not stop; stop it ('hotline sandbox down --force'), then start again"
                )
            if not path.exists():
                path.mkdir()
                os.chmod(path, MOUNT_POINT_MODE)
                continue
            mode = path.stat().st_mode
            if not stat.S_ISDIR(mode):
                raise SandboxError(f"{path} is not a folder: remove it, or use another [sandbox] root")
            if mode & _TRAVERSE != _TRAVERSE:
                os.chmod(path, stat.S_IMODE(mode) | _TRAVERSE)


def namespace_command(mounts: list[Mount], root: Path, program: list[str]) -> list[str]:
    """A command that makes the mounts in a new private mount namespace, then runs `program` chrooted into
    the root, in the same process (its pid is the program's)."""
    script = "set -e\n" + "".join(shlex.join(m.command()) + "\n" for m in mounts) + 'exec "$@"\n'
    unshare = ["unshare", "--mount", "--propagation", "private", "--"]
    return [*unshare, "sh", "-c", script, "sh", "chroot", str(root), *program]


def enter_command(pid: int, root: Path, program: list[str]) -> list[str]:
    """A command that runs `program` chrooted into the root inside pid's mount and network namespaces
    (a node's Asterisk has a network of its own; its phones and CLI share it)."""
    return ["nsenter", f"--target={pid}", "--mount", "--net", "--", "chroot", str(root), *program]


def inside(pid: int) -> list[str]:
    """The mount points pid sees, as paths inside its root (the kernel shows a chrooted process only
    what lies below its root)."""
    try:
        table = Path(f"/proc/{pid}/mounts").read_text()
    except OSError:
        return []
    return [_unescape(line.split()[1]) for line in table.splitlines() if line.strip()]


def on_host(root: Path) -> list[str]:
    """Mounts below the root in this process's namespace, deepest first: only an older version made
    these."""
    return _below(Path("/proc/self/mounts").read_text(), root)


def _below(table: str, root: Path) -> list[str]:
    targets = [_unescape(line.split()[1]) for line in table.splitlines() if line.strip()]
    return sorted((t for t in targets if t.startswith(f"{root}/")), reverse=True)


def _unescape(field: str) -> str:
    """/proc/mounts writes space, tab, newline and backslash in octal."""
    for code, char in (("\\040", " "), ("\\011", "\t"), ("\\012", "\n"), ("\\134", "\\")):
        field = field.replace(code, char)
    return field


def unmount(target: str) -> None:
    """Unmount a host mount an older version left (nothing if it is gone)."""
    if target not in _host_targets():
        return
    proc = subprocess.run(["umount", target], capture_output=True, text=True)
    if proc.returncode != 0:
        # Busy (a straggler still has a file open): detach now, the kernel finishes when it closes.
        subprocess.run(["umount", "-l", target], check=False)


def _host_targets() -> set[str]:
    return {_unescape(line.split()[1]) for line in Path("/proc/self/mounts").read_text().splitlines()}
