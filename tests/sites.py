"""More sites on the test sandbox's Asterisk, for the outage tests and the benchmarks."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from pathlib import Path

from ami_bridge.queue_log import QueueLogReader
from hotline import secrets
from hotline import settings as site_settings
from hotline.asterisk import config as asterisk_config
from hotline.settings import Settings
from tests.agi_peer import free_ports
from tests.space import TEST_SETTINGS, TEST_VAR


def site_on(url: str, folder: Path) -> Path:
    """A second site on the test's Asterisk: its cases on `url`, its own state folder (journal, queue_log
    position) with the same secrets, the same recordings and queue_log."""
    shared = TEST_VAR
    text = TEST_SETTINGS.read_text(encoding="utf-8").replace("../var/test", str(shared))
    text = text.replace(f'state_dir = "{shared}"', f'state_dir = "{folder / "state"}"')
    text = text.replace(f'url = "sqlite+aiosqlite:///{shared}/hotline.db"', f'url = "{url}"')
    text = text.replace("[ami]\n", f'[ami]\nqueue_log = "{shared}/asterisk/log/queue_log"\n')
    (folder / "state").mkdir()
    # The test site's secrets, made now if nothing (a test run, a sandbox start) has made them yet: the
    # sandbox renders its Asterisk from the same file later, so both sites speak with one AMI secret.
    test_site = site_settings.load(TEST_SETTINGS)
    secrets.generate_missing(test_site, asterisk_config.secrets_used(test_site, sandbox=True))
    shutil.copy2(shared / "secrets.toml", folder / "state" / "secrets.toml")
    path = folder / "hotline.toml"
    path.write_text(text, encoding="utf-8")
    other = site_settings.load(path)
    assert other.database_url == url and other.queue_log_path == shared / "asterisk/log/queue_log"
    return path


def not_ours(site: Settings) -> None:
    """The calls the second site made are not the test site's: its next bridge must not take them in."""
    QueueLogReader(site.queue_log_path, site.state_path / "queue_log.position").following(datetime.now(UTC))


def without_asterisk(folder: Path, state: Path) -> tuple[str, int]:
    """The test site's settings text with its files in `folder` and its state in `state`, free ports for
    the web app and the FastAGI server, and an AMI port nothing listens on (the request side needs no
    Asterisk); and the web port."""
    web_port, ami_port, agi_port = free_ports(3)
    text = TEST_SETTINGS.read_text(encoding="utf-8")
    text = text.replace('state_dir = "../var/test"', f'state_dir = "{state}"')
    text = text.replace("../var/test", str(folder))
    text = text.replace("[ami]\nport = 15038", f"[ami]\nport = {ami_port}")
    text = text.replace("[agi]\nport = 14573", f"[agi]\nport = {agi_port}")
    text = text.replace("[web]\nport = 18080", f"[web]\nport = {web_port}")
    return text, web_port
