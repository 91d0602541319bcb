"""The settings file: the example is valid, and every mistake names its key and the fix."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from hotline import settings
from hotline.errors import SettingsError
from tests.conftest import ROOT, TEST_SETTINGS
from tests.space import TEST_VAR

EXAMPLE = ROOT / "hotline.example.toml"


def _broken(tmp_path: Path, old: str, new: str) -> Path:
    text = EXAMPLE.read_text(encoding="utf-8")
    assert old in text, old
    out = tmp_path / "hotline.toml"
    out.write_text(text.replace(old, new, 1), encoding="utf-8")
    return out


def test_example_and_test_sites_are_valid() -> None:
    site = settings.load(EXAMPLE)
    assert [n.did for n in site.numbers] == ["1022", "02371022"]
    assert {q.name for q in site.queues} == {"violation", "suggestion", "welfare", "health", "operator"}
    assert site.database_url == f"sqlite+aiosqlite:///{ROOT}/var/hotline.db"
    assert settings.load(TEST_SETTINGS).state_path == TEST_VAR  # "../var/test", beside the file


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        (
            'queues = ["health", "operator"]',
            'queues = ["helth", "operator"]',
            r"agents\[2\]\.queues: unknown queue 'helth' for agent 103; use one of .*health",
        ),
        (
            'strategy = "rrmemory"',
            'strategy = "roundrobin"',
            r"queues\.0\.strategy: Input should be 'ringall'",
        ),
        ('extension = "102"', 'extension = "101"', r"agents\[\]\.extension: '101' appears twice"),
        ('name = "operator"', 'name = "operators"', r"a queue named 'operator' is required"),
        (
            'mon = "07:00-21:00"',
            'mon = "21:00-07:00"',
            r"hours\.weekly\.mon = '21:00-07:00'.*must be before the end",
        ),
        ('mon = "07:00-21:00"', 'mon = "7h-21h"', r"write it as HH:MM-HH:MM"),
        ('did = "1022"', 'did = "10 22"', r"numbers\.0\.did: '10 22' has the wrong form"),
        ("[ami]", '[ami]\nsecrt = "x"', r"ami\.secrt: unknown key; check its spelling"),
        (
            'enabled = false\nhost = "sip.carrier.example"',
            'enabled = true\nhost = ""',
            r"trunk\.host is required when trunk\.enabled = true",
        ),
    ],
)
def test_each_mistake_names_the_key_and_the_fix(tmp_path: Path, old: str, new: str, expected: str) -> None:
    with pytest.raises(SettingsError) as err:
        settings.load(_broken(tmp_path, old, new))
    assert str(tmp_path / "hotline.toml") in str(err.value)
    assert re.search(expected, str(err.value)), str(err.value)


def test_toml_syntax_error_gives_the_line(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match=r"not valid TOML: .*line 9"):
        settings.load(_broken(tmp_path, '[site]\nname = "Tổng đài 1022"', '[site]\nname = "Tổng đài 1022'))


def test_missing_file_and_missing_required_table(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="settings file not found"):
        settings.load(tmp_path / "nope.toml")
    bare = tmp_path / "bare.toml"
    bare.write_text("[site]\nname = 'x'\n")
    with pytest.raises(SettingsError, match=r"numbers: missing; add it"):
        settings.load(bare)


def test_settings_file_lookup_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv(settings.ENV_SETTINGS, raising=False)
    with pytest.raises(SettingsError, match=r"no settings file: create hotline\.toml"):
        settings.settings_file()
    (tmp_path / "hotline.example.toml").write_text("")
    assert settings.settings_file() == tmp_path / "hotline.example.toml"
    (tmp_path / "hotline.toml").write_text("")
    assert settings.settings_file() == tmp_path / "hotline.toml"
    monkeypatch.setenv(settings.ENV_SETTINGS, "/elsewhere.toml")
    assert settings.settings_file() == Path("/elsewhere.toml")
    assert settings.settings_file("given.toml") == Path("given.toml")


def test_overrides_reach_nested_keys() -> None:
    site = settings.load(EXAMPLE, overrides={"ami.port": 6038, "hours.always_open": True})
    assert site.ami.port == 6038
    assert site.hours.always_open


def test_fastagi_peers_default_to_this_machine_and_the_asterisk_host() -> None:
    local = settings.load(TEST_SETTINGS)
    assert local.agi_peers == ["127.0.0.1/32", "::1/128", "127.0.0.1/32"]
    remote = settings.load(TEST_SETTINGS, overrides={"ami.host": "10.0.0.5"})
    assert "10.0.0.5/32" in remote.agi_peers
    listed = settings.load(TEST_SETTINGS, overrides={"agi.allow": ["10.0.0.0/24"]})
    assert listed.agi_peers == ["10.0.0.0/24"]
