"""Who may read what the hotline keeps on disk: recordings, the database, the journal and Asterisk's logs
hold personal data, so folders are 0750 and files 0640 (the owner writes, the group reads: Asterisk and
the hotline share a group; nobody else reads). New files get this from the umask every process of ours
sets; `tighten` brings older files in line."""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

log = logging.getLogger(__name__)

UMASK = 0o027  # new folders 0750, new files 0640
_TOO_OPEN = 0o027  # group write, and anything for others


def tighten(root: Path, skip: tuple[Path, ...] = ()) -> int:
    """Take group write and every right of others off the folders and regular files under `root` (never
    adding any), except under `skip` (what others must read and holds no personal data: the prompts);
    returns how many changed. Entries the process may not change are logged and skipped."""
    changed = 0
    refused = 0
    skipped = {p.resolve() for p in skip}
    for folder, dirs, files in os.walk(root, followlinks=False):
        if Path(folder).resolve() in skipped:
            dirs[:] = []
            continue
        for path in (Path(folder), *(Path(folder) / f for f in files)):
            try:
                mode = path.lstat().st_mode
                if not (stat.S_ISDIR(mode) or stat.S_ISREG(mode)) or not mode & _TOO_OPEN:
                    continue
                os.chmod(path, stat.S_IMODE(mode) & ~_TOO_OPEN)
                changed += 1
            except PermissionError:
                refused += 1
            except FileNotFoundError:
                continue
        dirs[:] = [d for d in dirs if not (Path(folder) / d).is_symlink()]
    if refused:
        log.warning("could not tighten the modes of %d entries under %s (not their owner)", refused, root)
    return changed


def open_to_all(root: Path) -> None:
    """Folders 0755 and files 0644 under `root`: for what everyone may read (the prompts Asterisk plays,
    which hold no personal data), whatever the umask they were written under."""
    for folder, _, names in os.walk(root, followlinks=False):
        os.chmod(folder, 0o755)
        for name in names:
            path = Path(folder) / name
            if path.is_file() and not path.is_symlink():
                os.chmod(path, 0o644)
