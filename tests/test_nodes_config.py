"""Several Asterisk nodes behind Kamailio: the settings, each node's Asterisk configuration and the edge's,
checked by Kamailio itself."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from hotline import settings
from hotline.errors import SettingsError
from hotline.kamailio import config as kamailio_config
from shell.cli import render_site
from tests.conftest import ROOT

EXAMPLE = ROOT / "hotline.example.toml"
NODES = [{"name": "a", "address": "10.201.0.11"}, {"name": "b", "address": "10.201.0.12"}]


def _site(tmp_path: Path, **more: object) -> settings.Settings:
    overrides: dict[str, object] = {
        "state_dir": str(tmp_path / "state"),
        "config_dir": str(tmp_path / "conf"),
        "nodes": NODES,
        "edge": {"address": "10.201.0.10", "carriers": ["10.201.0.20", "203.0.113.0/24"]},
        "ami.permit": "10.201.0.1",
        "agi.host": "10.201.0.1",
    }
    overrides.update(more)
    return settings.load(EXAMPLE, overrides=overrides)


def test_each_node_is_rendered_with_its_own_name_addresses_and_folders(tmp_path: Path) -> None:
    site = _site(tmp_path)
    written = render_site(site)
    conf = tmp_path / "conf"
    assert conf / "nodes/a/pjsip.conf" in written and conf / "nodes/b/pjsip.conf" in written
    assert conf / "kamailio/kamailio.cfg" in written
    for name, address in (("a", "10.201.0.11"), ("b", "10.201.0.12")):
        folder = conf / "nodes" / name
        asterisk = (folder / "asterisk.conf").read_text()
        # Uniqueids and linkedids carry the node's name: calls of two nodes never share one.
        assert f"systemname = {name}\n" in asterisk
        assert f"astdbdir => {tmp_path}/state/nodes/{name}/asterisk/db" in asterisk
        assert f"astetcdir => {folder}" in asterisk
        pjsip = (folder / "pjsip.conf").read_text()
        assert f"bind = {address}:5060" in pjsip
        # Calls come in through the edge, known by its address.
        assert "[edge]\ntype = identify\nendpoint = edge\nmatch = 10.201.0.10\n" in pjsip
        manager = (folder / "manager.conf").read_text()
        assert f"bindaddr = {address}" in manager
        assert "permit = 10.201.0.1/255.255.255.255" in manager
        extensions = (folder / "extensions.conf").read_text()
        assert "HOTLINE_AGI = agi://10.201.0.1:4573/ivr" in extensions
    # The same secrets everywhere: a phone registers to every node with one password.
    a, b = ((conf / "nodes" / n / "pjsip.conf").read_text() for n in "ab")
    assert a.replace("10.201.0.11", "X") == b.replace("10.201.0.12", "X")


def test_one_machine_renders_as_before_without_an_edge(tmp_path: Path) -> None:
    site = settings.load(
        EXAMPLE, overrides={"state_dir": str(tmp_path / "state"), "config_dir": str(tmp_path)}
    )
    written = render_site(site)
    assert tmp_path / "asterisk.conf" in written and not (tmp_path / "nodes").exists()
    text = (tmp_path / "asterisk.conf").read_text()
    assert "systemname" not in text and f"astdbdir => {tmp_path}/state/asterisk/db" in text
    assert "[edge]" not in (tmp_path / "pjsip.conf").read_text()


def test_the_dispatcher_list_puts_the_nodes_in_their_fail_over_order(tmp_path: Path) -> None:
    listing = kamailio_config.dispatcher_list(_site(tmp_path))
    lines = [line.split() for line in listing.splitlines() if not line.startswith("#")]
    # Algorithm 8 takes the highest priority first: the first of [[nodes]].
    assert lines == [
        ["1", "sip:10.201.0.11:5060", "0", "2", "node=a"],
        ["1", "sip:10.201.0.12:5060", "0", "1", "node=b"],
    ]


@pytest.mark.skipif(shutil.which("kamailio") is None, reason="Debian's kamailio is installed by scripts/test")
def test_kamailio_accepts_the_rendered_configuration(tmp_path: Path) -> None:
    site = _site(tmp_path)
    cfg = next(p for p in render_site(site) if p.name == "kamailio.cfg")
    text = cfg.read_text()
    assert "src_ip == 10.201.0.20/32 || src_ip == 203.0.113.0/24" in text
    assert 'modparam("tm", "fr_timer", 2000)' in text
    assert 'modparam("dispatcher", "ds_ping_interval", 2)' in text
    check = subprocess.run(["kamailio", "-c", "-f", str(cfg)], capture_output=True, text=True, timeout=30)
    assert check.returncode == 0, check.stderr


@pytest.mark.parametrize(
    ("overrides", "said"),
    [
        ({"edge": {}}, "edge.address: several [[nodes]] need the SIP edge"),
        ({"edge": {"address": "10.201.0.11"}}, "must not share an address with a node"),
        ({"nodes": [NODES[0], {**NODES[0], "name": "c"}]}, "10.201.0.11:5060' appears twice"),
        ({"nodes": [NODES[0], {**NODES[1], "name": "a"}]}, "nodes[].name: 'a' appears twice"),
        ({"nodes": [{"name": "a", "address": "node-a.example"}]}, "nodes.0.address"),
        ({"edge": {"address": "10.201.0.10", "carriers": ["carrier.example"]}}, "edge.carriers"),
    ],
)
def test_wrong_node_settings_are_named(tmp_path: Path, overrides: dict[str, object], said: str) -> None:
    with pytest.raises(SettingsError) as caught:
        _site(tmp_path, **overrides)
    assert said in str(caught.value)


def test_node_is_not_a_setting(tmp_path: Path) -> None:
    file = tmp_path / "site.toml"
    file.write_text('node = "a"\n' + EXAMPLE.read_text())
    with pytest.raises(SettingsError, match="node is not a setting"):
        settings.load(file)
