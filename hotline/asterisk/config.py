"""Render config/asterisk/*.conf from hotline.toml, so a queue or an agent is defined once."""

from __future__ import annotations

import os
from pathlib import Path

from jinja2 import Environment, PackageLoader, StrictUndefined

from hotline import secrets as site_secrets
from hotline.asterisk import events
from hotline.asterisk.channel_vars import END_EVENT, END_RECORD, QCB_EVENT, QCB_LOG_EVENT, TRACKED
from hotline.asterisk.naming import endpoint, queue_id
from hotline.errors import SettingsError
from hotline.queued_callbacks import CALLBACK_KEY
from hotline.settings import Settings

# Files that hold secrets are readable by their owner and group (Asterisk) only.
SECRET_FILES = frozenset({"pjsip.conf", "manager.conf"})

MODULES = (
    # core services
    "res_timing_timerfd.so",
    "res_sorcery_config.so",
    "res_sorcery_memory.so",
    "res_sorcery_astdb.so",
    "res_rtp_asterisk.so",
    "res_musiconhold.so",
    "res_speech.so",
    "res_agi.so",
    "res_clioriginate.so",
    "pbx_config.so",
    # SIP (PJSIP)
    "res_pjproject.so",
    "res_pjsip.so",
    "chan_pjsip.so",
    "res_pjsip_session.so",
    "res_pjsip_authenticator_digest.so",
    "res_pjsip_outbound_authenticator_digest.so",
    "res_pjsip_endpoint_identifier_ip.so",
    "res_pjsip_endpoint_identifier_user.so",
    "res_pjsip_registrar.so",
    "res_pjsip_outbound_registration.so",
    "res_pjsip_caller_id.so",
    "res_pjsip_sdp_rtp.so",
    "res_pjsip_dtmf_info.so",
    "res_pjsip_nat.so",
    "res_pjsip_rfc3326.so",
    "res_pjsip_diversion.so",
    "res_pjsip_refer.so",
    "res_pjsip_pubsub.so",
    "res_pjsip_logger.so",
    "res_pjsip_header_funcs.so",
    "res_pjsip_acl.so",
    # bridging and media
    "bridge_simple.so",
    "bridge_native_rtp.so",
    "bridge_softmix.so",
    "bridge_holding.so",
    "bridge_builtin_features.so",
    "codec_ulaw.so",
    "codec_alaw.so",
    "codec_gsm.so",
    "codec_a_mu.so",
    "codec_resample.so",
    "format_wav.so",
    "format_gsm.so",
    "format_pcm.so",
    "format_sln.so",
    # applications the dialplan and the bridge use
    "app_dial.so",
    "app_queue.so",
    "app_mixmonitor.so",
    "app_playback.so",
    "app_record.so",
    "app_senddtmf.so",
    "app_chanspy.so",
    "app_exec.so",
    "app_verbose.so",
    "app_echo.so",
    "app_read.so",
    "app_stack.so",
    "app_while.so",
    "app_userevent.so",
    "app_channelredirect.so",
    "app_waituntil.so",
    "app_sayunixtime.so",
    # dialplan functions
    "func_callerid.so",
    "func_channel.so",
    "func_strings.so",
    "func_logic.so",
    "func_math.so",
    "func_global.so",
    "func_cut.so",
    "func_db.so",
    "func_hangupcause.so",
    "func_timeout.so",
    "func_devstate.so",
    "func_uri.so",
)


def environment() -> Environment:
    env = Environment(
        loader=PackageLoader("hotline.asterisk", "templates"),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        autoescape=False,
    )
    env.filters["conf"] = conf_value
    return env


def conf_value(value: object) -> str:
    """A value safe inside an Asterisk .conf line: one line, ';' escaped (it starts a comment)."""
    text = str(value)
    if any(c in text for c in "\r\n"):
        raise SettingsError(f"value {text!r} has a line break; Asterisk config values are one line")
    return text.replace(";", r"\;")


def secrets_used(settings: Settings, sandbox: bool = False) -> list[site_secrets.Declared]:
    """Every secret the site calls for: Asterisk's (AMI users, SIP accounts, the trunk; with `sandbox`
    also the sandbox's softphone), then the rest."""
    username = settings.ami.username
    used = [site_secrets.ami_user(username), site_secrets.ami_user(f"{username}-tools")]
    accounts = [endpoint(a.extension) for a in settings.agents]
    if sandbox and settings.sandbox.softphone:
        accounts.append(settings.sandbox.softphone)
    used += [site_secrets.sip_account(a) for a in accounts]
    if settings.trunk.enabled and settings.trunk.username:
        used.append(site_secrets.TRUNK_PASSWORD)
    return used + site_secrets.used_by(settings)


def render(settings: Settings, target: Path | None = None, sandbox: bool = False) -> list[Path]:
    """Write every template into target (the settings' config_dir by default); return the files. Only
    the sandbox gets the test softphone account ([sandbox] softphone): a production Asterisk never has a
    SIP account that the settings' authors did not write themselves."""
    target = target or settings.config_path
    target.mkdir(parents=True, exist_ok=True)
    # Set-up makes every secret an operator must give another system (a phone, the SMS gateway), so
    # `hotline secrets show` has it before the first call or message needs it.
    site_secrets.generate_missing(settings, secrets_used(settings, sandbox))

    def sip_secret(account: str) -> str:
        if account == "trunk":
            return site_secrets.value(settings, site_secrets.TRUNK_PASSWORD)
        return site_secrets.sip_secret(settings, account)

    env = environment()
    context = {
        "s": settings,
        "banner": "Generated by 'hotline asterisk render' from the site settings; edit those, not this file.",
        "config_dir": str(target.resolve()),
        "asterisk_dir": str(settings.asterisk_state_path),
        "recordings_dir": str(settings.recordings_path),
        "ami_secret": site_secrets.ami_secret(settings),
        "tools_secret": site_secrets.ami_secret(settings, tools=True),
        "bridge_events": events.FILTERED,
        "unwanted_events": events.UNWANTED,
        # Only the variables the call tracker follows: every other VarSet would be read and dropped.
        "bridge_variables": sorted(name.removeprefix("HOTLINE_") for name in TRACKED),
        "ami_permit": f"{settings.ami.permit_network.network_address}/{settings.ami.permit_network.netmask}",
        "modules": sorted(set(MODULES)),
        "end_event": END_EVENT,
        "qcb": settings.queued_callbacks,
        "qcb_key": CALLBACK_KEY,
        # t: the agent may transfer; c: with the survey on, a caller whose agent hung up stays, to rate.
        "queue_options": "tc" if settings.survey.enabled else "t",
        "qcb_event": QCB_EVENT,
        "qcb_log_event": QCB_LOG_EVENT,
        "end_fields": "|".join(f"${{URIENCODE({value})}}" for value in END_RECORD.values()),
        "endpoint": endpoint,
        "queue_id": queue_id,
        "sip_secret": sip_secret,
        "softphone": settings.sandbox.softphone if sandbox else "",
    }
    written = []
    for name in sorted(env.list_templates(extensions=["j2"])):
        out = target / name.removesuffix(".j2")
        text = env.get_template(name).render(context)
        tmp = out.with_name(out.name + ".tmp")
        tmp.write_text(text, encoding="utf-8")
        os.chmod(tmp, 0o640 if out.name in SECRET_FILES else 0o644)
        if out.exists():
            # Keep the group Asterisk reads through (0640 files are unreadable to it otherwise).
            old = out.stat()
            os.chown(tmp, -1, old.st_gid)
        tmp.replace(out)
        written.append(out)
    return written
