"""When the nightly retention runs, and what happens when Asterisk cannot be asked to rotate its logs."""

from __future__ import annotations

from datetime import UTC, datetime

from hotline import settings as site_settings
from shell.housekeeping import next_run, rotate_asterisk_logs
from tests.agi_peer import free_port
from tests.conftest import TEST_SETTINGS


def test_the_nightly_run_is_at_the_sites_run_at_in_its_own_time_zone() -> None:
    site = site_settings.load(TEST_SETTINGS)  # Asia/Ho_Chi_Minh (UTC+7), run_at 02:30
    # 18:00 UTC is 01:00 in Vietnam: the run is 90 minutes later, the same Vietnamese night.
    assert next_run(site, datetime(2026, 11, 22, 18, 0, tzinfo=UTC)) == datetime(
        2026, 11, 22, 19, 30, tzinfo=UTC
    )
    # 20:00 UTC is 03:00 in Vietnam: tonight's run is over, the next is tomorrow night.
    assert next_run(site, datetime(2026, 11, 22, 20, 0, tzinfo=UTC)) == datetime(
        2026, 11, 23, 19, 30, tzinfo=UTC
    )


async def test_an_unreachable_asterisk_is_reported_not_raised() -> None:
    site = site_settings.load(TEST_SETTINGS, overrides={"ami.port": free_port()})
    assert await rotate_asterisk_logs(site) is False
