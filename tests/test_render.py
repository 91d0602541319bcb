"""Rendering config/asterisk from the settings: complete, secret, and safe against odd values."""

from __future__ import annotations

import re
import stat
from pathlib import Path

import pytest

from hotline import settings
from hotline.asterisk import config as render
from hotline.errors import SettingsError
from hotline.secrets import Secrets
from tests.conftest import ROOT

EXAMPLE = ROOT / "hotline.example.toml"


@pytest.fixture
def site(tmp_path: Path) -> settings.Settings:
    return settings.load(EXAMPLE, overrides={"state_dir": str(tmp_path / "state")})


def test_renders_every_file_with_agents_queues_and_numbers(site: settings.Settings, tmp_path: Path) -> None:
    out = tmp_path / "conf"
    files = {p.name for p in render.render(site, out)}
    assert {
        "pjsip.conf",
        "extensions.conf",
        "queues.conf",
        "manager.conf",
        "modules.conf",
        "logger.conf",
        "musiconhold.conf",
        "asterisk.conf",
    } <= files
    pjsip = (out / "pjsip.conf").read_text()
    for agent in ("agent101", "agent102", "agent103"):
        assert f"[{agent}](phone-endpoint)" in pjsip
    queues = (out / "queues.conf").read_text()
    assert "[q-violation]" in queues and "member =>" not in queues  # agents log in: dynamic members
    extensions = (out / "extensions.conf").read_text()
    assert "HOTLINE_AGENT_agent101 = violation&operator" in extensions  # what *45 logs agent 101 in to
    assert "exten => 1022,1,Set(__HOTLINE_DID=1022)" in extensions
    assert "exten => +842371022,1,Goto(hotline-inbound,02371022,1)" in extensions
    assert "[hotline-callersim]" in extensions
    assert "[trunk]" not in pjsip  # disabled in the example


def test_secrets_are_generated_once_private_and_never_defaults(
    site: settings.Settings, tmp_path: Path
) -> None:
    render.render(site, tmp_path / "a")
    render.render(site, tmp_path / "b")
    manager_a = (tmp_path / "a" / "manager.conf").read_text()
    assert manager_a == (tmp_path / "b" / "manager.conf").read_text()
    secret = re.search(r"^secret = (\S+)$", manager_a, re.M)
    assert secret and len(secret[1]) >= 20
    passwords = re.findall(r"^password = (\S+)$", (tmp_path / "a" / "pjsip.conf").read_text(), re.M)
    assert len(passwords) == 3 and len(set(passwords)) == 3  # the three agents' phones
    secrets_file = site.state_path / "secrets.toml"
    assert stat.S_IMODE(secrets_file.stat().st_mode) == 0o600
    for name in render.SECRET_FILES:
        assert stat.S_IMODE((tmp_path / "a" / name).stat().st_mode) == 0o640


def test_ami_user_is_loopback_only_and_least_privilege(site: settings.Settings, tmp_path: Path) -> None:
    render.render(site, tmp_path)
    manager = (tmp_path / "manager.conf").read_text()
    assert "bindaddr = 127.0.0.1" in manager
    assert "deny = 0.0.0.0/0.0.0.0" in manager and "permit = 127.0.0.1/255.255.255.255" in manager
    write = re.search(r"^write = (.+)$", manager, re.M)
    assert write and "system" not in write[1] and "command" not in write[1] and "config" not in write[1]


def test_values_cannot_break_out_of_their_line(tmp_path: Path) -> None:
    site = settings.load(EXAMPLE, overrides={"state_dir": str(tmp_path / "s")})
    label = site.queues[0].model_copy(update={"label": "Phản ánh; vi phạm"})
    site = site.model_copy(update={"queues": [label, *site.queues[1:]]})
    render.render(site, tmp_path / "conf")
    assert r"; Phản ánh\; vi phạm" in (tmp_path / "conf" / "queues.conf").read_text()
    with pytest.raises(SettingsError, match="line break"):
        render.conf_value("two\nlines")


def test_trunk_with_username_needs_the_carriers_password(tmp_path: Path) -> None:
    site = settings.load(
        EXAMPLE,
        overrides={
            "state_dir": str(tmp_path / "s"),
            "trunk.enabled": True,
            "trunk.username": "vnpt1022",
            "trunk.registration": True,
            "trunk.match": ["203.0.113.10"],
        },
    )
    with pytest.raises(
        SettingsError, match=r"add sip\.trunk = \"\.\.\.\" with the password the carrier gave"
    ):
        render.render(site, tmp_path / "conf")
    Secrets(site.state_path / "secrets.toml")._values  # noqa: B018
    (site.state_path / "secrets.toml").write_text('"sip.trunk" = "from-the-carrier"\n')
    render.render(site, tmp_path / "conf")
    pjsip = (tmp_path / "conf" / "pjsip.conf").read_text()
    assert "password = from-the-carrier" in pjsip
    assert "match = 203.0.113.10" in pjsip
    assert "type = registration" in pjsip


def test_the_dialplan_uses_only_the_declared_channel_variables(
    site: settings.Settings, tmp_path: Path
) -> None:
    """Every HOTLINE_* name the rendered dialplan sets or reads is declared in hotline.asterisk.channel_vars,
    and every declared per-call variable is one the dialplan or the IVR sets: the lists cannot drift."""
    from hotline.asterisk.channel_vars import END_EVENT, QCB_LOG_EVENT, Global, PlaceVar, Var, collected
    from ivr import flow as flow_file
    from ivr.flows import flow_path

    out = tmp_path / "conf"
    render.render(site, out)
    dialplan = (out / "extensions.conf").read_text()
    used = set(re.findall(r"HOTLINE_[A-Z_]+", dialplan))
    globals_ = {g.value for g in Global}
    declared = {v.value for v in Var}
    undeclared = {
        n
        for n in used
        if n not in declared | {v.value for v in PlaceVar} | {END_EVENT, QCB_LOG_EVENT}
        and not any(n.startswith(g) for g in globals_)
    }
    assert not undeclared, f"declare these in hotline/asterisk/channel_vars.py: {sorted(undeclared)}"
    engine = (ROOT / "ivr" / "engine.py").read_text()
    set_by_ivr = {v.value for v in Var if f"Var.{v.name}" in engine}
    assert declared <= used | set_by_ivr, sorted(declared - used - set_by_ivr)
    flow = flow_file.load(flow_path(site))
    assert all(collected(n.variable).startswith("HOTLINE_") for n in flow.nodes.values() if n.variable)
    manager = (out / "manager.conf").read_text()
    assert "IVR_NODE" in manager and "CASE_NO" in manager


def test_the_test_softphone_is_rendered_for_the_sandbox_only(site: settings.Settings, tmp_path: Path) -> None:
    render.render(site, tmp_path / "production")
    render.render(site, tmp_path / "sandbox", sandbox=True)
    assert "[citizen]" not in (tmp_path / "production" / "pjsip.conf").read_text()
    assert "[citizen](phone-endpoint)" in (tmp_path / "sandbox" / "pjsip.conf").read_text()


def test_asterisk_on_another_machine_permits_the_bridge_from_the_address_the_site_gives(
    site: settings.Settings, tmp_path: Path
) -> None:
    remote = site.model_copy(
        update={"ami": site.ami.model_copy(update={"host": "10.0.0.5", "permit": "10.0.0.9"})}
    )
    render.render(remote, tmp_path)
    manager = (tmp_path / "manager.conf").read_text()
    # Before, the Asterisk host's own address was rendered: the bridge on another machine was refused.
    assert manager.count("permit = 10.0.0.9/255.255.255.255") == 2 and "10.0.0.5/" not in manager
    with pytest.raises(SettingsError, match="permit"):
        settings.load(ROOT / "tests" / "hotline.test.toml", overrides={"ami.permit": "not-an-address"})


def test_the_queued_callback_is_offered_as_the_settings_say_and_not_at_all_when_off(
    site: settings.Settings, tmp_path: Path
) -> None:
    render.render(site, tmp_path / "on")
    queues = (tmp_path / "on" / "queues.conf").read_text()
    dialplan = (tmp_path / "on" / "extensions.conf").read_text()
    rules = site.queued_callbacks
    for q in site.queues:
        section = queues.split(f"[q-{q.name}]", 1)[1].split("\n[", 1)[0]
        assert "context = hotline-queue-keys" in section
        assert f"periodic-announce-startdelay = {rules.offer_after_seconds}" in section
    # On joining, when the callers ahead times an average call, over the agents, reach the long wait.
    assert f"* {rules.handle_seconds} / " in dialplan and f"< {rules.long_wait_seconds}]?join)" in dialplan
    assert "Read(qcb_key,hotline/qcb_offer_long,1,,1,3)" in dialplan
    never = site.model_copy(update={"queued_callbacks": rules.model_copy(update={"long_wait_seconds": 0})})
    render.render(never, tmp_path / "never")
    assert "qcb_offer_long" not in (tmp_path / "never" / "extensions.conf").read_text()
    off = site.model_copy(update={"queued_callbacks": rules.model_copy(update={"enabled": False})})
    render.render(off, tmp_path / "off")
    assert "hotline-queue-keys" not in (tmp_path / "off" / "queues.conf").read_text()
    assert "hotline-qcb" not in (tmp_path / "off" / "extensions.conf").read_text()
