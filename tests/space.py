"""Where the tests keep their state. By default the tests' settings file is tests/hotline.test.toml, whose
state (database, secrets, journal, recordings) is var/test. With HOTLINE_TEST_SPACE set to a folder under
the checkout (the test command runs the tests that need no sandbox beside those that do), the settings
file is a copy of it in that folder, so the same relative paths give that run a state of its own."""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ORIGINAL_SETTINGS = ROOT / "tests" / "hotline.test.toml"


def _settings_file() -> Path:
    space = os.environ.get("HOTLINE_TEST_SPACE", "")
    if not space:
        return ORIGINAL_SETTINGS
    copy = ROOT / space / "tests" / ORIGINAL_SETTINGS.name
    copy.parent.mkdir(parents=True, exist_ok=True)
    copy.write_text(ORIGINAL_SETTINGS.read_text(encoding="utf-8"), encoding="utf-8")
    # `hotline` commands the tests start without --settings read the same copy.
    os.environ["HOTLINE_SETTINGS"] = str(copy)
    return copy


TEST_SETTINGS = _settings_file()
# The state folder the settings file names ("../var/test" beside it).
TEST_VAR = TEST_SETTINGS.parent.parent / "var" / "test"
