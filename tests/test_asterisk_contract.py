"""The contract with Asterisk (hotline/asterisk/) against the code that relies on it: the AMI events the
bridge's handler tables follow are the ones manager.conf lets through, and the names of endpoints and
queues read back as they were written."""

from __future__ import annotations

import re
from pathlib import Path

from ami_bridge.calls import CallTracker
from ami_bridge.live import LiveBoard
from hotline import settings as site_settings
from hotline.asterisk import config, events
from hotline.asterisk.naming import endpoint, extension_of, queue_id, queue_name
from tests.conftest import TEST_SETTINGS


def test_the_handler_tables_follow_exactly_the_declared_events() -> None:
    site = site_settings.load(TEST_SETTINGS)
    tracker = CallTracker(lambda call: None)
    board = LiveBoard(site, tracker.calls)
    assert set(tracker.handlers) == events.CALL_EVENTS
    assert set(board.handlers) == events.MEMBER_EVENTS
    # The board recomputes states and redraws screens on tracker events: those must reach the bridge too.
    assert events.AGENT_STATE_EVENTS | events.SCREEN_EVENTS <= events.CALL_EVENTS


def test_manager_conf_lets_through_the_followed_events_and_no_other(tmp_path: Path) -> None:
    site = site_settings.load(TEST_SETTINGS)
    config.render(site, tmp_path)
    text = (tmp_path / "manager.conf").read_text(encoding="utf-8")
    bridge_user = text.split(f"[{site.ami.username}]", 1)[1].split("\n[", 1)[0]
    allowed = re.search(r"^eventfilter = Event: \((.*)\)$", bridge_user, re.M)
    refused = re.search(r"^eventfilter = !Event: \((.*)\)$", bridge_user, re.M)
    assert allowed is not None and refused is not None
    names = set(allowed[1].split("|"))
    assert names == (events.CALL_EVENTS | events.MEMBER_EVENTS | events.CALLBACK_EVENTS) - {"VarSet"}
    assert set(refused[1].split("|")) == set(events.UNWANTED)


def test_endpoint_and_queue_names_read_back() -> None:
    assert extension_of(f"PJSIP/{endpoint('101')}") == "101"
    assert extension_of(f"PJSIP/{endpoint('101')}-0000002a") == "101"
    assert extension_of("Local/1022@hotline-00000001;1") == ""
    assert extension_of("") == ""
    assert queue_name(queue_id("health")) == "health"


def test_the_rendered_config_names_queues_and_phones_as_the_bridge_reads_them(tmp_path: Path) -> None:
    site = site_settings.load(TEST_SETTINGS)
    config.render(site, tmp_path)
    queues = (tmp_path / "queues.conf").read_text(encoding="utf-8")
    for q in site.queues:
        assert f"[{queue_id(q.name)}]" in queues
    pjsip = (tmp_path / "pjsip.conf").read_text(encoding="utf-8")
    for agent in site.agents:
        assert f"[{endpoint(agent.extension)}]" in pjsip
