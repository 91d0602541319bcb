"""`hotline recordings prune`: delete recordings older than the retention the site set, by the day folder
they were filed in (recordings/YYYY/MM/DD/), then remove the folders left empty."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path


def prune(root: Path, retention_days: int, today: date | None = None, dry_run: bool = False) -> list[Path]:
    cutoff = (today or date.today()) - timedelta(days=retention_days)
    removed: list[Path] = []
    for day_dir in sorted(root.glob("[0-9][0-9][0-9][0-9]/[0-9][0-9]/[0-9][0-9]")):
        try:
            day = date(int(day_dir.parent.parent.name), int(day_dir.parent.name), int(day_dir.name))
        except ValueError:
            continue  # not a day folder: leave it alone
        if day >= cutoff:
            continue
        for file in sorted(p for p in day_dir.iterdir() if p.is_file()):
            removed.append(file)
            if not dry_run:
                file.unlink()
        if not dry_run:
            for folder in (day_dir, day_dir.parent, day_dir.parent.parent):
                if folder.is_dir() and not any(folder.iterdir()):
                    folder.rmdir()
    return removed
