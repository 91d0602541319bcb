"""The `hotline` command."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import logging
import os
import sys
import time
from collections.abc import Sequence
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select

from ami_bridge import agents
from hotline import cases, files, privacy, retention, secrets, settings
from hotline.asterisk import config as asterisk_config
from hotline.db.engine import make_engine, sessions
from hotline.db.migrate import upgrade, upgrade_async
from hotline.db.models import AuditEntry, User
from hotline.errors import HotlineError
from hotline.kamailio import config as kamailio_config
from ivr import flow as flow_file
from ivr import show, validate
from ivr.flow import FlowError
from ivr.flows import DEFAULT_FLOW
from ivr.prompts import build, catalog
from shell import housekeeping, node_commands, place_commands, service
from shell.callsim import CallRequest, connect_ami, place_call
from shell.sandbox import rootfs
from shell.sandbox.cluster import ClusterSandbox
from shell.sandbox.runner import Sandbox
from web import auth


def main(argv: Sequence[str] | None = None) -> int:
    # Whatever this process writes (database, journal, exports) is for its owner and group only.
    os.umask(files.UMASK)
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO, format="%(asctime)s %(name)s: %(message)s"
    )
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        result: int = args.func(args)
        return result
    except HotlineError as exc:
        print(f"hotline: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="hotline", description="1022 citizen hotline on Asterisk")
    parser.add_argument("--settings", help="settings file (default: $HOTLINE_SETTINGS or ./hotline.toml)")
    parser.add_argument("-v", "--verbose", action="store_true")
    sub = parser.add_subparsers(metavar="COMMAND")

    ast = sub.add_parser("asterisk", help="Asterisk configuration").add_subparsers(metavar="ACTION")
    p = ast.add_parser("render", help="write config/asterisk/*.conf from the settings")
    p.add_argument("--out", help="folder to write into (default: config_dir from the settings)")
    p.set_defaults(func=cmd_render)

    sb = sub.add_parser("sandbox", help="a local Asterisk 22 with baresip agent phones").add_subparsers(
        metavar="ACTION"
    )
    p = sb.add_parser("build", help="build the Debian sid root with Asterisk 22 and baresip, if missing")
    p.set_defaults(func=cmd_sandbox_build)
    sb.add_parser("up", help="build (once), configure and start it").set_defaults(func=cmd_sandbox_up)
    p = sb.add_parser("down", help="stop what 'up' started and remove its mounts")
    p.add_argument("--force", action="store_true", help="also remove any mount left below the sandbox root")
    p.set_defaults(func=cmd_sandbox_down)
    sb.add_parser("status", help="show what runs").set_defaults(func=cmd_sandbox_status)
    p = sb.add_parser("cli", help="run an Asterisk CLI command in the sandbox")
    p.add_argument("--node", default="", help="with [[nodes]]: the node's Asterisk (default: the first)")
    p.add_argument("command", nargs="+")
    p.set_defaults(func=cmd_sandbox_cli)

    node_commands.add_parser(sub)
    place_commands.add_parser(sub)

    fl = sub.add_parser("flows", help="IVR menu trees").add_subparsers(metavar="ACTION")
    p = fl.add_parser("check", help="validate flow files (default: the shipped hotline flow)")
    p.add_argument("files", nargs="*")
    p.set_defaults(func=cmd_flows_check)
    p = fl.add_parser("show", help="print a flow as a tree and write a Mermaid diagram")
    p.add_argument("file", nargs="?")
    p.add_argument("--mermaid", help="write the diagram to this file (default: docs/flow-<name>.mmd)")
    p.set_defaults(func=cmd_flows_show)

    pr = sub.add_parser("prompts", help="IVR prompt sounds").add_subparsers(metavar="ACTION")
    p = pr.add_parser("build", help="synthesise changed prompts (gTTS, else espeak-ng) for Asterisk")
    p.add_argument("--engine", default="auto", choices=["auto", "gtts", "espeak"])
    p.add_argument("--force", action="store_true", help="rebuild every prompt")
    p.add_argument("--language", action="append", help="language(s) to build (default: vi)")
    p.set_defaults(func=cmd_prompts_build)

    agi = sub.add_parser("agi", help="the FastAGI server").add_subparsers(metavar="ACTION")
    p = agi.add_parser("serve", help="run the FastAGI server alone")
    p.add_argument("--listen", help="HOST:PORT (default: [agi] in the settings)")
    p.set_defaults(func=cmd_agi_serve)

    db = sub.add_parser("db", help="the database").add_subparsers(metavar="ACTION")
    db.add_parser("upgrade", help="create or migrate the schema").set_defaults(func=cmd_db_upgrade)

    p = sub.add_parser(
        "serve", help="run the hotline's services (FastAGI server, AMI bridge, web app) in one process"
    )
    p.add_argument("--no-web", action="store_true", help="without the web app")
    p.set_defaults(func=cmd_serve)
    p = sub.add_parser("bridge", help="run the AMI bridge alone (live calls, one case per call)")
    p.set_defaults(func=cmd_bridge)

    ag = sub.add_parser("agents", help="agents' queue membership and pauses").add_subparsers(metavar="ACTION")
    for action, text in (
        ("login", "add the agent to their queues"),
        ("logout", "remove the agent from them"),
        ("pause", "pause the agent in every queue"),
        ("unpause", "end the agent's pause"),
    ):
        p = ag.add_parser(action, help=text)
        p.add_argument("extension")
        if action == "pause":
            p.add_argument("--reason", default="break")
        p.set_defaults(func=cmd_agents, action=action)

    us = sub.add_parser("user", help="people who sign in to the web app").add_subparsers(metavar="ACTION")
    p = us.add_parser("add", help="add a user (there is no default user: create the first admin so)")
    p.add_argument("username")
    p.add_argument("--role", required=True, choices=["admin", "supervisor", "agent", "agency"])
    p.add_argument("--extension", default="", help="the user's phone: an [[agents]] extension")
    p.add_argument("--agency", default="", help="an agency user's agency: an [[agencies]] name")
    p.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    p.set_defaults(func=cmd_user_add)
    us.add_parser("list", help="the users: name, role, phone extension").set_defaults(func=cmd_user_list)
    p = us.add_parser("password", help="set a user's password (signs their browsers out)")
    p.add_argument("username")
    p.add_argument("--password-stdin", action="store_true")
    p.set_defaults(func=cmd_user_password)
    for action, text in (
        ("disable", "stop a user signing in (signs their browsers out, closes their live screens)"),
        ("enable", "let a disabled user sign in again"),
        ("unlock", "lift the lock that too many wrong passwords put on an account"),
    ):
        p = us.add_parser(action, help=text)
        p.add_argument("username")
        p.set_defaults(func=cmd_user_change, action=action)
    p = us.add_parser("totp", help="give a user a second factor (a new one-time-code secret), or --off")
    p.add_argument("username")
    p.add_argument("--off", action="store_true", help="take the second factor away")
    p.set_defaults(func=cmd_user_totp)
    tk = sub.add_parser("token", help="API tokens for integrations").add_subparsers(metavar="ACTION")
    p = tk.add_parser("add", help="make a bearer token (shown once)")
    p.add_argument("name")
    p.add_argument("--role", required=True, choices=["admin", "supervisor", "agent"])
    p.add_argument(
        "--days", type=int, default=auth.TOKEN_DAYS, help=f"valid this many days (default {auth.TOKEN_DAYS})"
    )
    p.add_argument("--no-expiry", action="store_true", help="valid until revoked")
    p.set_defaults(func=cmd_token_add)
    tk.add_parser("list", help="the tokens: name, role, made, last used, expiry").set_defaults(
        func=cmd_token_list
    )
    p = tk.add_parser("revoke", help="revoke a token at once (its live screens close too)")
    p.add_argument("name")
    p.set_defaults(func=cmd_token_revoke)

    sc = sub.add_parser("secrets", help="the site's secrets (var/secrets.toml)").add_subparsers(
        metavar="ACTION"
    )
    sc.add_parser(
        "list", help="the secrets the settings call for: set or missing, and where each goes"
    ).set_defaults(func=cmd_secrets_list)
    p = sc.add_parser("show", help="print one secret's value, to give to the system that needs it")
    p.add_argument("name", help="e.g. sms.callbacks, facebook.verify_token, sip.agent101")
    p.set_defaults(func=cmd_secrets_show)

    cs = sub.add_parser("cases", help="the calls' cases").add_subparsers(metavar="ACTION")
    p = cs.add_parser("list", help="recent cases, newest first")
    p.add_argument("--limit", type=int, default=20)
    p.add_argument("--caller", help="only this caller number")
    p.add_argument("--outcome", help="only this outcome (answered, abandoned_queue, ...)")
    p.set_defaults(func=cmd_cases_list)
    p = cs.add_parser("show", help="one case with its timeline")
    p.add_argument("number", help="case number or linkedid")
    p.set_defaults(func=cmd_cases_show)
    p = cs.add_parser("export", help="cases as CSV or JSON on standard output")
    p.add_argument("--format", choices=["csv", "json"], default="csv")
    p.add_argument("--since", help="YYYY-MM-DD (site time zone)")
    p.add_argument("--until", help="YYYY-MM-DD, inclusive")
    p.set_defaults(func=cmd_cases_export)

    pv = sub.add_parser("privacy", help="personal data: retention and erasure").add_subparsers(
        metavar="ACTION"
    )
    p = pv.add_parser(
        "retention", help="delete now what [retention] keeps no longer (hotline serve: nightly)"
    )
    p.add_argument("--dry-run", action="store_true", help="count, delete nothing")
    p.set_defaults(func=cmd_privacy_retention)
    p = pv.add_parser(
        "erase", help="erase one person's data, found by any identifier of theirs: cases, requests anonymised"
    )
    who = p.add_mutually_exclusive_group(required=True)
    who.add_argument("--phone", help="their number, in any form (0912..., +84912...)")
    who.add_argument("--email", help="their e-mail address")
    who.add_argument("--zalo", help="their Zalo user id (as the Official Account's events give it)")
    who.add_argument("--facebook", help="their Facebook page-scoped user id")
    p.add_argument(
        "--asterisk-stopped",
        action="store_true",
        help="Asterisk is stopped: rewrite its live queue_log and logs too (else it is asked to rotate them)",
    )
    p.set_defaults(func=cmd_privacy_erase)

    p = sub.add_parser("call", help="place a simulated call into the hotline and print what happened")
    p.add_argument("number", help="the number dialled, e.g. 1022 or 02371022")
    p.add_argument("--keys", default="", help="DTMF the caller presses: digits, * and #, w = 0.5 s pause")
    p.add_argument("--wait", type=float, default=2.0, help="seconds after the answer before the first key")
    p.add_argument("--key-ms", type=int, default=250, help="length of each key tone in ms")
    p.add_argument(
        "--hangup-after", type=float, default=20.0, help="seconds after the keys before hanging up"
    )
    p.add_argument("--caller", default="0912345678", help="the caller's number")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.set_defaults(func=cmd_call)
    return parser


def cmd_render(args: argparse.Namespace) -> int:
    site = settings.load(args.settings)
    for path in render_site(site, Path(args.out) if args.out else None):
        print(path)
    return 0


def render_site(site: settings.Settings, out: Path | None = None, sandbox: bool = False) -> list[Path]:
    """The one Asterisk's configuration; with [[nodes]], each node's (in nodes/NAME) and the edge's
    (in kamailio/)."""
    if not site.nodes:
        return asterisk_config.render(site, out, sandbox=sandbox)
    written = []
    for name in site.node_names:
        node = site.for_node(name)
        written += asterisk_config.render(node, out / "nodes" / name if out else None, sandbox=sandbox)
    return written + kamailio_config.render(site, out / "kamailio" if out else None)


def _sandbox(args: argparse.Namespace) -> Sandbox | ClusterSandbox:
    """The one-node sandbox, or with [[nodes]] in the settings the nodes behind the edge."""
    site = settings.load(args.settings)
    return ClusterSandbox(site) if site.nodes else Sandbox(site)


def cmd_sandbox_build(args: argparse.Namespace) -> int:
    root = Path(settings.load(args.settings).sandbox.root)
    started = time.monotonic()
    built = not rootfs.is_ready(root)
    rootfs.build(root)
    print(f"sandbox root {root}: {'built' if built else 'ready'} in {time.monotonic() - started:.1f} s")
    return 0


def cmd_sandbox_up(args: argparse.Namespace) -> int:
    box = _sandbox(args)
    box.up()
    site = box.settings
    if isinstance(box, ClusterSandbox):
        print(f"edge (Kamailio) at {site.edge.sip_address}; nodes: {json.dumps(box.dispatcher())}")
        return 0
    if site.sandbox.softphone:
        account = site.sandbox.softphone
        print(
            f"softphone account: user {account}, password {secrets.sip_secret(site, account)}, "
            f"server {site.sip.external_host}:{site.sip.bind.rpartition(':')[2]} (UDP); dial 1022 or 02371022"
        )
    return 0


def cmd_sandbox_down(args: argparse.Namespace) -> int:
    box = _sandbox(args)
    if isinstance(box, ClusterSandbox):
        box.down()
    else:
        box.down(force=args.force)
    return 0


def cmd_sandbox_status(args: argparse.Namespace) -> int:
    info = _sandbox(args).status()
    print(json.dumps(info, indent=2))
    return 0 if info.get("running") else 3


def cmd_sandbox_cli(args: argparse.Namespace) -> int:
    box = _sandbox(args)
    if isinstance(box, ClusterSandbox):
        box = box.node(args.node or box.settings.node_names[0])
    print(box.cli(" ".join(args.command)), end="")
    return 0


def cmd_secrets_list(args: argparse.Namespace) -> int:
    site = settings.load(args.settings)
    store = secrets.for_site(site)
    for secret in asterisk_config.secrets_used(site, sandbox=True):
        state = "set" if store.has(secret.key) else "made on first use" if secret.generated else "MISSING"
        origin = "made here" if secret.generated else "issued by others"
        print(f"{secret.key:28} {state:17} {origin:16} {secret.what}")
        if secret.give_to:
            print(f"{'':28} give it to {secret.give_to}")
    print(f"(values: hotline secrets show NAME; the file: {store.path})")
    return 0


def cmd_secrets_show(args: argparse.Namespace) -> int:
    site = settings.load(args.settings)
    declared = {s.key: s for s in asterisk_config.secrets_used(site, sandbox=True)}
    if args.name in declared:
        print(secrets.value(site, declared[args.name]))
        return 0
    store = secrets.for_site(site)
    if store.has(args.name):  # a secret of an earlier version or of settings since changed
        print(store.get(args.name))
        return 0
    raise HotlineError(
        f"no secret {args.name!r} for this site's settings; 'hotline secrets list' shows them: "
        + ", ".join(declared)
    )


def cmd_flows_check(args: argparse.Namespace) -> int:
    site = settings.load(args.settings)
    prompts = catalog.load().prompts
    failed = False
    for path in args.files or [str(DEFAULT_FLOW)]:
        try:
            validate.check(flow_file.load(path), queues=[q.name for q in site.queues], prompts=prompts)
        except FlowError as exc:
            failed = True
            print("\n".join(exc.problems), file=sys.stderr)
        else:
            print(f"{path}: ok")
    return 1 if failed else 0


def cmd_flows_show(args: argparse.Namespace) -> int:
    path = Path(args.file or DEFAULT_FLOW)
    loaded = flow_file.load(path)
    print(show.tree(loaded))
    out = Path(args.mermaid or Path("docs") / f"flow-{path.stem}.mmd")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(show.mermaid(loaded), encoding="utf-8")
    print(f"diagram: {out}")
    return 0


def cmd_prompts_build(args: argparse.Namespace) -> int:
    site = settings.load(args.settings)
    report = build.build(
        catalog.load(), site.sounds_path, tuple(args.language or ["vi"]), engine=args.engine, force=args.force
    )
    for warning in report.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    print(
        f"prompts in {site.sounds_path}: {len(report.built)} built ({report.engine}), "
        f"{len(report.recorded)} from recordings, {len(report.kept)} unchanged"
    )
    return 0


def cmd_db_upgrade(args: argparse.Namespace) -> int:
    site = settings.load(args.settings)
    upgrade(site.database_url)
    print(f"database at {site.database_url}: up to date")
    return 0


def cmd_agi_serve(args: argparse.Namespace) -> int:
    site = settings.load(args.settings)
    return asyncio.run(service.run(site, bridge=False, agi_listen=args.listen or site.agi.listen_address))


def cmd_bridge(args: argparse.Namespace) -> int:
    return asyncio.run(service.run(settings.load(args.settings), agi=False))


def cmd_serve(args: argparse.Namespace) -> int:
    return asyncio.run(service.run(settings.load(args.settings), web=not args.no_web))


def _password(args: argparse.Namespace) -> str:
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\n")
    first = getpass.getpass("password: ")
    if getpass.getpass("again: ") != first:
        raise HotlineError("the two passwords differ")
    return first


async def _with_db(site: settings.Settings, work: Any) -> Any:
    await upgrade_async(site.database_url)
    engine = make_engine(site.database_url)
    try:
        return await work(sessions(engine))
    finally:
        await engine.dispose()


def cmd_user_add(args: argparse.Namespace) -> int:
    site = settings.load(args.settings)
    if args.extension and args.extension not in {a.extension for a in site.agents}:
        raise HotlineError(f"--extension {args.extension}: not an [[agents]] extension in the settings")
    if args.agency and args.agency not in {a.name for a in site.agencies}:
        raise HotlineError(f"--agency {args.agency}: not an [[agencies]] name in the settings")
    password = _password(args)
    asyncio.run(
        _with_db(
            site,
            lambda db: auth.add_user(db, args.username, password, args.role, args.extension, args.agency),
        )
    )
    print(f"user {args.username} ({args.role}) added")
    return 0


def cmd_user_list(args: argparse.Namespace) -> int:
    async def users(db: Any) -> list[User]:
        async with db() as session:
            return list(await session.scalars(select(User).order_by(User.username)))

    for user in asyncio.run(_with_db(settings.load(args.settings), users)):
        state = "" if user.active else " (disabled)"
        print(f"{user.username}\t{user.role}\t{user.extension or '-'}{state}")
    return 0


def cmd_user_password(args: argparse.Namespace) -> int:
    site = settings.load(args.settings)
    password = _password(args)
    asyncio.run(
        _audited(
            site, "user.password", args.username, lambda db: auth.set_password(db, args.username, password)
        )
    )
    print(f"password of {args.username} changed; their sessions are signed out")
    return 0


async def _audited(site: settings.Settings, action: str, target: str, work: Any, **detail: Any) -> Any:
    """Run `work` on the site's database and write what was done to the audit log, as the command line."""

    async def both(db: Any) -> Any:
        result = await work(db)
        async with db() as session, session.begin():
            session.add(
                AuditEntry(
                    at=datetime.now(UTC),
                    actor=f"cli:{getpass.getuser()}"[:80],
                    action=action,
                    target=target[:128],
                    detail=detail,
                )
            )
        return result

    return await _with_db(site, both)


def cmd_user_change(args: argparse.Namespace) -> int:
    site = settings.load(args.settings)
    work = {
        "disable": lambda db: auth.set_active(db, args.username, False),
        "enable": lambda db: auth.set_active(db, args.username, True),
        "unlock": lambda db: auth.unlock(db, args.username),
    }[args.action]
    asyncio.run(_audited(site, f"user.{args.action}", args.username, work))
    print(f"user {args.username}: {args.action}d")
    return 0


def cmd_user_totp(args: argparse.Namespace) -> int:
    site = settings.load(args.settings)
    secret = "" if args.off else auth.enrol_totp_secret()
    action = "user.totp_off" if args.off else "user.totp"
    asyncio.run(_audited(site, action, args.username, lambda db: auth.set_totp(db, args.username, secret)))
    if args.off:
        print(f"user {args.username}: no second factor; their browsers are signed out")
        return 0
    # Shown once, to be typed into (or scanned by) the user's authenticator app; stored only in the database.
    print(auth.totp_uri(secret, args.username, site.site.name))
    print(
        f"(second factor of {args.username}: add the line above to an authenticator app, or its secret "
        f"{secret}; from now on signing in needs its 6-digit code)",
        file=sys.stderr,
    )
    return 0


def cmd_token_list(args: argparse.Namespace) -> int:
    site = settings.load(args.settings)
    tz = ZoneInfo(site.site.timezone)

    def when(value: datetime | None, empty: str) -> str:
        return value.astimezone(tz).strftime("%Y-%m-%d %H:%M") if value else empty

    now = datetime.now(UTC)
    for token in asyncio.run(_with_db(site, auth.list_tokens)):
        state = (
            "revoked"
            if token.revoked_at
            else "expired"
            if token.expires_at and token.expires_at <= now
            else f"until {when(token.expires_at, 'revoked')}"
        )
        print(
            f"{token.name}\t{token.role}\tmade {when(token.created_at, '-')}\t"
            f"last used {when(token.last_used_at, 'never')}\t{state}"
        )
    return 0


def cmd_token_revoke(args: argparse.Namespace) -> int:
    site = settings.load(args.settings)
    asyncio.run(_audited(site, "token.revoke", args.name, lambda db: auth.revoke_token(db, args.name)))
    print(f"API token {args.name} revoked")
    return 0


def cmd_token_add(args: argparse.Namespace) -> int:
    site = settings.load(args.settings)
    days = None if args.no_expiry else args.days
    token = asyncio.run(
        _audited(
            site,
            "token.add",
            args.name,
            lambda db: auth.add_token(db, args.name, args.role, days),
            role=args.role,
            days=days,
        )
    )
    print(token)
    print(
        f"(API token {args.name}, role {args.role}: shown once; send it as 'Authorization: Bearer <token>')",
        file=sys.stderr,
    )
    return 0


def cmd_agents(args: argparse.Namespace) -> int:
    site = settings.load(args.settings)

    async def run() -> str:
        ami = await connect_ami(site)
        try:
            if args.action == "login":
                joined = await agents.login(ami, site, args.extension)
                return f"logged in to: {', '.join(joined) or 'already in all'}"
            if args.action == "logout":
                left = await agents.logout(ami, site, args.extension)
                return f"logged out of: {', '.join(left) or 'none'}"
            await agents.pause(ami, site, args.extension, args.action == "pause", getattr(args, "reason", ""))
            return f"{args.action}d"
        finally:
            await ami.close()

    print(f"agent {args.extension}: {asyncio.run(run())}")
    return 0


def cmd_cases_list(args: argparse.Namespace) -> int:
    site = settings.load(args.settings)
    found = cases.search(
        ZoneInfo(site.site.timezone),
        filters={"caller": args.caller, "outcome": args.outcome},
        limit=args.limit,
    )
    print(cases.table(asyncio.run(cases.fetch(site, found)), ZoneInfo(site.site.timezone)))
    return 0


def cmd_cases_show(args: argparse.Namespace) -> int:
    site = settings.load(args.settings)
    found = asyncio.run(cases.fetch(site, cases.by_key(args.number)))
    if not found:
        print(f"no case {args.number}", file=sys.stderr)
        return 1
    print(cases.detail(found[0], ZoneInfo(site.site.timezone)))
    return 0


def cmd_cases_export(args: argparse.Namespace) -> int:
    site = settings.load(args.settings)
    first, last = _day(args.since, "--since"), _day(args.until, "--until")
    found = asyncio.run(
        cases.fetch(site, cases.search(ZoneInfo(site.site.timezone), first, last, newest_first=False))
    )
    sys.stdout.write(cases.to_json(found) if args.format == "json" else cases.to_csv(found))
    return 0


def _day(value: str | None, option: str) -> date | None:
    try:
        return date.fromisoformat(value) if value else None
    except ValueError:
        raise HotlineError(f"{option} {value!r}: give a day as YYYY-MM-DD") from None


def _actor() -> str:
    return f"cli:{getpass.getuser()}"


def cmd_privacy_retention(args: argparse.Namespace) -> int:
    site = settings.load(args.settings)

    async def run(db: Any) -> retention.Report:
        if not args.dry_run:
            await housekeeping.rotate_asterisk_logs(site)
        return await retention.apply(site, db, dry_run=args.dry_run, actor=_actor())

    report = asyncio.run(_with_db(site, run))
    verb = "would delete" if args.dry_run else "deleted"
    print(f"{verb}: " + ", ".join(f"{n} {kind.replace('_', ' ')}" for kind, n in report.counts().items()))
    return 0


def cmd_privacy_erase(args: argparse.Namespace) -> int:
    site = settings.load(args.settings)
    identifier = (
        args.phone or args.email or (f"zalo:{args.zalo}" if args.zalo else f"facebook:{args.facebook}")
    )

    async def run(db: Any) -> privacy.Erasure:
        rotated = False if args.asterisk_stopped else await housekeeping.rotate_asterisk_logs(site)
        if not rotated and not args.asterisk_stopped:
            raise HotlineError(
                "Asterisk could not be asked to rotate its logs, so its live queue_log may still hold the "
                "person's number; run again once AMI answers, or with --asterisk-stopped while it is stopped"
            )
        try:
            return await privacy.erase(
                site, db, identifier, actor=_actor(), include_live_logs=args.asterisk_stopped
            )
        except ValueError as exc:
            raise HotlineError(str(exc)) from None

    done = asyncio.run(_with_db(site, run))
    print(
        f"erased {privacy.Person.named(identifier).masked()}: {done.cases} case(s) and {done.requests} "
        f"request(s) anonymised, {done.files} file(s) deleted, {done.messages} message(s), "
        f"{done.events} timeline event(s), {done.audit} audit entr(ies), {done.dead_letters} dead letter(s) "
        f"and {done.log_lines} Asterisk log line(s) cleaned"
    )
    return 0


def cmd_call(args: argparse.Namespace) -> int:
    site = settings.load(args.settings)
    request = CallRequest(
        number=args.number,
        keys=args.keys,
        first_wait=args.wait,
        key_ms=args.key_ms,
        hangup_after=args.hangup_after,
        caller=args.caller,
    )
    result = asyncio.run(place_call(site, request))
    if args.json:
        print(json.dumps(result.as_dict(), indent=2, ensure_ascii=False))
    else:
        print(result.describe())
    return 0 if result.answered else 1


if __name__ == "__main__":
    sys.exit(main())
