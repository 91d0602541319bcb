"""The secrets an operator gives to other systems exist once the site is set up, and a command shows them:
`hotline secrets list` names what the settings call for, `hotline secrets show NAME` prints one."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from channels import sms
from hotline import secrets, settings
from hotline.asterisk import config as asterisk_config
from shell import cli
from tests.conftest import ROOT

EXAMPLE = ROOT / "hotline.example.toml"


@pytest.fixture
def site_file(tmp_path: Path) -> Path:
    """The example site with the SMS gateway and a Facebook page configured."""
    text = EXAMPLE.read_text(encoding="utf-8")
    text += (
        '\n[sms]\nurl = "http://127.0.0.1:13013/cgi-bin/sendsms"\nusername = "hotline"\n'
        '\n[facebook]\npage_id = "1234567890"\n'
    )
    path = tmp_path / "hotline.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_render_makes_the_secrets_others_must_be_given(site_file: Path, tmp_path: Path) -> None:
    site = settings.load(site_file)
    store_file = site.state_path / secrets.FILE
    assert not store_file.exists()
    asterisk_config.render(site, tmp_path / "conf")
    store = secrets.for_site(site)
    for made in ("sms.callbacks", "facebook.verify_token", "sip.agent101", "web.follow_links"):
        assert store.has(made), made
    # Issued by others: never invented.
    for issued in ("sms.password", "facebook.app_secret", "facebook.page_token"):
        assert not store.has(issued), issued
    assert stat.S_IMODE(store_file.stat().st_mode) == 0o600
    # The key the command shows is the one the gateway's callbacks are checked against.
    assert f"/sms/dlr/{store.get('sms.callbacks')}?" in sms.dlr_url(site, 7)


def test_show_prints_the_value_the_site_uses(site_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    site = settings.load(site_file)
    assert cli.main(["--settings", str(site_file), "secrets", "show", "sms.callbacks"]) == 0
    shown = capsys.readouterr().out.strip()
    assert shown == sms.callback_key(site) and len(shown) >= 24
    assert cli.main(["--settings", str(site_file), "secrets", "show", "facebook.verify_token"]) == 0
    assert capsys.readouterr().out.strip() == secrets.value(site, secrets.FACEBOOK_VERIFY_TOKEN)


def test_show_explains_what_is_missing_and_what_is_unknown(
    site_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["--settings", str(site_file), "secrets", "show", "sms.password"]) == 1
    err = capsys.readouterr().err
    assert 'add sms.password = "..."' in err and "sendsms password" in err
    assert cli.main(["--settings", str(site_file), "secrets", "show", "zalo.access_token"]) == 1
    err = capsys.readouterr().err
    assert "no secret 'zalo.access_token'" in err and "sms.callbacks" in err


def test_list_names_each_secret_its_state_and_where_it_goes(
    site_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    asterisk_config.render(settings.load(site_file), tmp_path / "conf")
    assert cli.main(["--settings", str(site_file), "secrets", "list"]) == 0
    out = capsys.readouterr().out
    lines = {line.split()[0]: line for line in out.splitlines() if line and not line.startswith(" ")}
    assert "set" in lines["sms.callbacks"] and "made here" in lines["sms.callbacks"]
    assert "MISSING" in lines["sms.password"] and "issued by others" in lines["sms.password"]
    assert "Kannel's sms-service get-url" in out
    assert "zalo.access_token" not in lines  # the settings have no Zalo OA
    # Names only: no value is printed by `list`.
    store = secrets.for_site(settings.load(site_file))
    assert store.get("sms.callbacks") not in out
