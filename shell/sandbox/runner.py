"""`hotline sandbox up | down | status`: a local Asterisk 22 and baresip agent phones in a chroot.

The chroot shares the host's network, so the hotline on the host reaches AMI, FastAGI and SIP over
127.0.0.1. The rendered config, the state folder and the recordings are bind-mounted at the same paths
inside (`mounts`), in a mount namespace of the sandbox's own, so a file name Asterisk writes means the same
file on the host and nothing stays mounted once its processes end. `down` stops only this site's
processes; `up` first clears what a failed or killed run of this site left.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import json
import os
import re
import socket
import stat
import subprocess
import time
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ami_bridge import agents
from hotline import files
from hotline import secrets as site_secrets
from hotline.asterisk import config as asterisk_config
from hotline.asterisk.naming import endpoint
from hotline.errors import SandboxError
from hotline.settings import Settings
from ivr.prompts import build, catalog
from shell.callsim import connect_ami
from shell.sandbox import mounts, network, phones, rootfs
from shell.sandbox.processes import alive, in_root, shares_mount_namespace, stop

Log = Callable[[str], None]
BOOT_TIMEOUT = 60.0
REGISTER_TIMEOUT = 30.0
LOG_TAIL = 15  # lines of Asterisk's own words shown when it does not boot
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


@dataclass
class SandboxState:
    root: str
    config: str
    asterisk_pid: int = 0
    phone_pids: dict[str, int] = field(default_factory=dict)
    # Host mounts made by an older version (which mounted outside a namespace): removed by `down`.
    mounts: list[str] = field(default_factory=list)
    started_at: float = 0.0
    # Set once every phone registered: a state without it is a run that failed or was killed mid-way.
    ready: bool = False

    @classmethod
    def load(cls, path: Path) -> SandboxState | None:
        try:
            return cls(**json.loads(path.read_text()))
        except FileNotFoundError:
            return None
        except (ValueError, TypeError) as exc:
            raise SandboxError(f"{path} is damaged ({exc}); run 'hotline sandbox down --force'") from None

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(asdict(self), indent=2))
        tmp.replace(path)


class Sandbox:
    """One Asterisk and its phones: the site's, or with `host` one node's, in that host's network (its
    own addresses; the phones beside it)."""

    def __init__(self, settings: Settings, log: Log = print, host: network.Host | None = None) -> None:
        self.settings = settings
        self.log = log
        self.host = host
        self.root = Path(settings.sandbox.root)
        self.state_file = settings.sandbox_state_path / "state.json"

    # -- public --------------------------------------------------------------------------------
    def up(self) -> SandboxState:
        rootfs.check_host()
        state = SandboxState.load(self.state_file)
        if state and state.ready and alive(state.asterisk_pid, "asterisk"):
            self.log(f"sandbox: already running (asterisk pid {state.asterisk_pid}); reloading its config")
            self._wait_booted(state.asterisk_pid)
            asterisk_config.render(self.settings, sandbox=True)
            self._build_prompts()
            self._prepare_dirs(*self._asterisk_ids())
            self.cli("core reload")
            self._wait_registered(list(state.phone_pids))
            return state
        if state:
            self.log("sandbox: cleaning up after an earlier run that did not finish or did not stop")
            self.down()
        else:
            self._clear_leftovers()
        started = time.monotonic()
        rootfs.build(self.root, self.log)
        asterisk_config.render(self.settings, sandbox=True)
        self._build_prompts()
        self._check_ports_free()
        asterisk_uid, asterisk_gid = self._asterisk_ids()
        self._prepare_dirs(asterisk_uid, asterisk_gid)
        plan = mounts.plan(self.settings, self.root)
        mounts.make_mount_points(self.root, plan)
        state = SandboxState(root=str(self.root), config=str(self.settings.config_path))
        state.started_at = time.time()
        try:
            state.save(self.state_file)
            console_from = self._console_size()
            asterisk = self._start_asterisk(plan)
            state.asterisk_pid = asterisk.pid
            state.save(self.state_file)
            self._wait_booted(state.asterisk_pid, console_from, asterisk)
            # A new site starts with every agent logged in; later starts keep who was (Asterisk's astdb).
            _run_coroutine(self._log_in_agents_if_none)
            for agent in self.settings.phone_agents():
                state.phone_pids[endpoint(agent.extension)] = self._start_phone(
                    agent.extension, state.asterisk_pid
                )
                state.save(self.state_file)
            self._wait_registered(list(state.phone_pids))
            self._check_log()
            state.ready = True
            state.save(self.state_file)
        except BaseException:
            self.down()
            raise
        self.log(f"sandbox: up in {time.monotonic() - started:.1f} s")
        return state

    def down(self, force: bool = False) -> None:
        state = SandboxState.load(self.state_file)
        if state is not None:
            for name, pid in state.phone_pids.items():
                # A phone unregisters on SIGTERM; with Asterisk gone it would wait for answers in vain.
                stop(pid, "baresip", self.log, name, timeout=2.0)
            if alive(state.asterisk_pid, "asterisk"):
                self.cli("core stop now", check=False, timeout=15)
            stop(state.asterisk_pid, "asterisk", self.log, "asterisk")
            for mount in reversed(state.mounts):
                mounts.unmount(mount)
        # What the state file does not know of: a run killed before it wrote it, or a lost state folder.
        cleared = self._clear_leftovers()
        if force:
            for mount in mounts.on_host(self.root):
                mounts.unmount(mount)
        self.state_file.unlink(missing_ok=True)
        self.log("sandbox: down" if state is not None or cleared else "sandbox: not running")

    def status(self) -> dict[str, object]:
        state = SandboxState.load(self.state_file)
        if state is None:
            return {"running": False}
        info: dict[str, object] = {
            "running": alive(state.asterisk_pid, "asterisk"),
            "ready": state.ready,
            "asterisk_pid": state.asterisk_pid,
            "phones": {n: alive(p, "baresip") for n, p in state.phone_pids.items()},
            "mounts": mounts.inside(state.asterisk_pid) if state.asterisk_pid else [],
        }
        if info["running"]:
            info["uptime"] = self.cli("core show uptime seconds", check=False).strip()
            info["contacts"] = self.registered()
        return info

    def cli(self, command: str, check: bool = True, timeout: float = 10) -> str:
        """Run an Asterisk CLI command in the sandbox (asterisk -rx)."""
        state = SandboxState.load(self.state_file)
        if state is None or not alive(state.asterisk_pid, "asterisk"):
            if check:
                raise SandboxError(f"asterisk -rx {command!r}: the sandbox is not running")
            return ""
        return self._cli(state.asterisk_pid, command, check, timeout)

    def registered(self) -> list[str]:
        """Endpoints with a registered contact."""
        out = self.cli("pjsip show contacts", check=False)
        names = []
        for line in out.splitlines():
            parts = line.split()
            if (
                len(parts) >= 2
                and parts[0] == "Contact:"
                and "/" in parts[1]
                and not parts[1].startswith("<")
            ):
                names.append(parts[1].split("/", 1)[0])
        return names

    def phone_control(self, account: str) -> phones.PhoneControl:
        return phones.PhoneControl(self._phone_ports(account)[1], self.phone_host)

    @contextlib.contextmanager
    def caller_phone(self, display_name: str, from_user: str) -> Iterator[phones.PhoneControl]:
        """A citizen's SIP phone (baresip, the sandbox's softphone account) that presents this From, for
        as long as the block runs: calls come in over SIP exactly as a carrier would send them."""
        account = self.settings.sandbox.softphone
        if not account:
            raise SandboxError("[sandbox] softphone is empty: there is no account for a caller's phone")
        sb = self.settings.sandbox
        sip_port = sb.phone_port_base + len(self.settings.agents) + 1
        control_port = sb.control_port_base + len(self.settings.agents) + 1
        folder = self.phones_path / account
        spec = phones.PhoneSpec(
            account=account,
            password=site_secrets.sip_secret(self.settings, account),
            sip_port=sip_port,
            control_port=control_port,
            registrar=_registrar(self.settings.sip.bind),
            host=self.phone_host,
            auto_answer=False,
            display_name=display_name,
            from_user=from_user,
        )
        proc = self._launch_phone(folder, spec, self._running_asterisk())
        try:
            control = phones.PhoneControl(control_port, self.phone_host)
            deadline = time.monotonic() + 10
            while True:  # until its control port answers
                try:
                    with socket.create_connection((self.phone_host, control_port), 0.5):
                        break
                except OSError:
                    if time.monotonic() > deadline or proc.poll() is not None:
                        raise SandboxError(
                            f"the caller's phone did not start; see {folder}/baresip.log"
                        ) from None
                    time.sleep(0.2)
            yield control
        finally:
            stop(proc.pid, "baresip", self.log, account, timeout=2.0)

    @property
    def log_file(self) -> Path:
        return self.settings.asterisk_state_path / "log" / "messages.log"

    @property
    def console_file(self) -> Path:
        """What Asterisk prints before its logger runs (an unwritable folder, a bad asterisk.conf)."""
        return self.settings.asterisk_state_path / "log" / "console.log"

    @property
    def phones_path(self) -> Path:
        return self.settings.sandbox_state_path / "phones"

    @property
    def phone_host(self) -> str:
        """Where the phones listen: beside their Asterisk, at its address in a host of its own (so the
        center reaches their control ports), else on the loopback."""
        return self.host.address if self.host else "127.0.0.1"

    # -- steps ---------------------------------------------------------------------------------
    def _cli(self, pid: int, command: str, check: bool, timeout: float) -> str:
        conf = self.settings.config_path / "asterisk.conf"
        cmd = mounts.enter_command(pid, self.root, ["asterisk", "-C", str(conf), "-rx", command])
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            if check:
                raise SandboxError(f"asterisk -rx {command!r} did not answer in {timeout} s") from None
            return ""
        if check and proc.returncode != 0:
            raise SandboxError(
                f"asterisk -rx {command!r} failed: {proc.stderr.strip() or proc.stdout.strip()}"
            )
        return proc.stdout

    def _running_asterisk(self) -> int:
        state = SandboxState.load(self.state_file)
        if state is None or not alive(state.asterisk_pid, "asterisk"):
            raise SandboxError("the sandbox is not running: start it with 'hotline sandbox up'")
        return state.asterisk_pid

    def _clear_leftovers(self) -> bool:
        """Stop this site's processes in the root that no state file knows of, and the orphans of sites
        whose folder is gone (a deleted checkout); remove the host mounts an older version left once
        nothing of it runs. Another live site's sandbox in the same root is left alone. True if anything
        was cleared."""
        config = str(self.settings.config_path / "asterisk.conf")
        phones_dir = f"{self.phones_path}/"
        cleared = False
        for proc in in_root(self.root):
            if proc.program not in ("asterisk", "baresip"):
                continue
            ours = any(arg == config or arg.startswith(phones_dir) for arg in proc.args)
            if ours or _orphan(proc.args):
                self.log(f"sandbox: stopping {proc.program} (pid {proc.pid}) left by an earlier run")
                stop(proc.pid, proc.program, self.log, proc.program, timeout=5.0)
                cleared = True
        legacy = mounts.on_host(self.root)
        if legacy and not any(shares_mount_namespace(p.pid) for p in in_root(self.root)):
            self.log(f"sandbox: removing {len(legacy)} mounts an earlier version left below {self.root}")
            for target in legacy:
                mounts.unmount(target)
            cleared = True
        return cleared

    async def _log_in_agents_if_none(self) -> None:
        ami = await connect_ami(self.settings)
        try:
            status = await ami.action_list("QueueStatus")
            if any(m.get("Event") == "QueueMember" for m in status):
                return
            for agent in self.settings.agents:
                await agents.login(ami, self.settings, agent.extension)
        finally:
            await ami.close()

    def _build_prompts(self) -> None:
        report = build.build(catalog.load(), self.settings.sounds_path)
        if report.built:
            self.log(f"sandbox: built {len(report.built)} prompt sounds with {report.engine}")
        for warning in report.warnings:
            self.log(f"sandbox: warning: {warning}")

    def _check_ports_free(self) -> None:
        if self.host is not None:
            return  # a host of its own, made for this run: nothing else listens there
        s = self.settings
        busy = []
        ports = [("tcp", s.ami.host, s.ami.port), ("udp", *_split(s.sip.bind))]
        for agent in s.phone_agents():
            sip_port, control_port = self._phone_ports(endpoint(agent.extension))
            ports += [("udp", "127.0.0.1", sip_port), ("tcp", "127.0.0.1", control_port)]
        for kind, host, port in ports:
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM if kind == "tcp" else socket.SOCK_DGRAM)
            # As Asterisk does: a port left in TIME_WAIT by the last run is free to listen on.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind((host, port))
            except OSError:
                busy.append(f"{kind} {host}:{port}")
            finally:
                sock.close()
        if busy:
            raise SandboxError(
                f"ports in use: {', '.join(busy)}. Another Asterisk or sandbox is running here: stop it, "
                "or change [ami] port, [sip] bind and the [sandbox] port bases in the settings"
            )

    def _asterisk_ids(self) -> tuple[int, int]:
        for line in (self.root / "etc/passwd").read_text().splitlines():
            parts = line.split(":")
            if parts[0] == "asterisk":
                return int(parts[2]), int(parts[3])
        raise SandboxError(f"no asterisk user in {self.root}; delete that folder so it is built again")

    def _prepare_dirs(self, uid: int, gid: int) -> None:
        """Asterisk runs as its own user inside; the uid means nothing on the host, so set owners by
        number."""
        state = self.settings.state_path
        own = self.settings.node_state_path
        asterisk_dirs = ("asterisk", "asterisk/db", "asterisk/log", "asterisk/spool", "asterisk/run")
        for sub in (*asterisk_dirs, "sandbox/phones"):
            (own / sub).mkdir(parents=True, exist_ok=True)
        for sub in asterisk_dirs:
            os.chown(own / sub, uid, gid)
        # A node's folders lie deeper (nodes/NAME, in the state and in the config folder): Asterisk passes
        # through the folders on the way by its group too.
        config = self.settings.config_path
        for top, folder in ((state, own), (config.parents[1] if self.settings.node else config, config)):
            for step in (folder, *folder.relative_to(top).parents):
                _group_passes(top / step, gid)
        recordings = self.settings.recordings_path
        recordings.mkdir(parents=True, exist_ok=True)
        os.chown(recordings, uid, gid)
        for conf in self.settings.config_path.glob("*.conf"):
            os.chown(conf, 0, gid)
        # Asterisk reaches its folders through the group: nobody else may (personal data lives here).
        for shared in (state, self.settings.config_path):
            _group_passes(shared, gid)
        for tree in (state, self.settings.config_path, recordings):
            files.tighten(tree, skip=(self.settings.sounds_path,))

    def _start_asterisk(self, plan: list[mounts.Mount]) -> subprocess.Popen[bytes]:
        conf = self.settings.config_path / "asterisk.conf"
        program = ["asterisk", "-f", "-U", "asterisk", "-G", "asterisk", "-C", str(conf)]
        command = mounts.namespace_command(plan, self.root, program)
        with self.console_file.open("ab") as console:
            proc = subprocess.Popen(
                self.host.command(command) if self.host else command,
                stdin=subprocess.DEVNULL,
                stdout=console,  # also what a failed mount says
                stderr=subprocess.STDOUT,
                start_new_session=True,  # outlives the command that started it; stopped by pid in down()
                umask=files.UMASK,  # recordings and logs 0640, their folders 0750
            )
        self.log(f"sandbox: asterisk started (pid {proc.pid})")
        return proc

    def _console_size(self) -> int:
        try:
            return self.console_file.stat().st_size
        except FileNotFoundError:
            return 0

    def _wait_booted(
        self, pid: int, console_from: int | None = None, started: subprocess.Popen[bytes] | None = None
    ) -> None:
        """Until Asterisk says it is fully booted; a failure as soon as it ends. For the Asterisk this
        process started, its end is what the kernel reports (its command line changes while it execs
        from the namespace's wrappers into Asterisk)."""
        deadline = time.monotonic() + BOOT_TIMEOUT
        while time.monotonic() < deadline:
            ended = started.poll() is not None if started else not alive(pid, "asterisk")
            if ended:
                raise SandboxError(self._boot_failure("Asterisk stopped while starting", console_from))
            remaining = max(1.0, deadline - time.monotonic())
            out = self._cli(pid, "core waitfullybooted", check=False, timeout=remaining)
            if "fully booted" in out.lower():
                return
            time.sleep(0.3)
        raise SandboxError(
            self._boot_failure(f"Asterisk did not finish booting in {BOOT_TIMEOUT:.0f} s", console_from)
        )

    def _boot_failure(self, what: str, console_from: int | None) -> str:
        """Name the file that says why, with its last lines: the console (what Asterisk printed, from this
        start on) when it has any, else Asterisk's own log."""
        for path, offset in ((self.console_file, console_from or 0), (self.log_file, 0)):
            try:
                with path.open("rb") as f:
                    f.seek(offset)
                    text = f.read().decode(errors="replace")
            except OSError:
                continue
            text = _ANSI.sub("", text)  # Asterisk colours its console
            lines = [line for line in text.splitlines() if line.strip()][-LOG_TAIL:]
            if lines:
                return f"{what}; the last lines of {path}:\n" + "\n".join(f"  {line}" for line in lines)
        return f"{what}, and wrote nothing to {self.console_file} or {self.log_file}"

    def _phone_ports(self, account: str) -> tuple[int, int]:
        names = [endpoint(a.extension) for a in self.settings.agents]
        index = names.index(account)
        sb = self.settings.sandbox
        return sb.phone_port_base + index, sb.control_port_base + index

    def _start_phone(self, extension: str, asterisk_pid: int) -> int:
        account = endpoint(extension)
        sip_port, control_port = self._phone_ports(account)
        folder = self.phones_path / account
        spec = phones.PhoneSpec(
            account=account,
            password=site_secrets.sip_secret(self.settings, account),
            sip_port=sip_port,
            control_port=control_port,
            registrar=_registrar(self.settings.sip.bind),
            host=self.phone_host,
        )
        return self._launch_phone(folder, spec, asterisk_pid).pid

    def _launch_phone(
        self, folder: Path, spec: phones.PhoneSpec, asterisk_pid: int
    ) -> subprocess.Popen[bytes]:
        """baresip with the phone's config folder, inside the sandbox root and Asterisk's mounts, its
        output in baresip.log."""
        phones.write_config(folder, spec)
        with (folder / "baresip.log").open("ab") as logfile:
            return subprocess.Popen(
                mounts.enter_command(asterisk_pid, self.root, ["baresip", "-f", str(folder)]),
                stdin=subprocess.DEVNULL,
                stdout=logfile,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # outlives the command that started it; stopped by pid in down()
            )

    def _wait_registered(self, accounts: list[str]) -> None:
        deadline = time.monotonic() + REGISTER_TIMEOUT
        missing = set(accounts)
        while missing and time.monotonic() < deadline:
            missing -= set(self.registered())
            if missing:
                time.sleep(0.3)
        if missing:
            folder = self.phones_path
            raise SandboxError(
                f"phones did not register in {REGISTER_TIMEOUT:.0f} s: {', '.join(sorted(missing))}; "
                f"see {folder}/<account>/baresip.log and {self.log_file}"
            )

    def _check_log(self) -> None:
        """A config mistake shows up as ERROR lines at boot; fail loudly rather than run half-configured."""
        if not self.log_file.is_file():
            return
        started = SandboxState.load(self.state_file)
        since = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(started.started_at - 1 if started else 0))
        errors = [
            line
            for line in self.log_file.read_text(errors="replace").splitlines()
            if line[1:20] >= since and "] ERROR[" in line
        ]
        if errors:
            raise SandboxError("Asterisk reported errors while starting:\n" + "\n".join(errors[-10:]))


def _group_passes(folder: Path, gid: int) -> None:
    """Asterisk's group owns the folder and may read and pass through it (a folder made 0700, as mktemp
    makes them, would keep Asterisk out of its own state)."""
    os.chown(folder, 0, gid)
    os.chmod(folder, stat.S_IMODE(folder.stat().st_mode) | stat.S_IRGRP | stat.S_IXGRP)


def _orphan(args: tuple[str, ...]) -> bool:
    """A sandbox Asterisk or phone whose site folder no longer exists on the host: nobody's any more."""
    for flag in ("-C", "-f"):
        if flag in args[:-1]:
            site_file = Path(args[args.index(flag) + 1])
            return site_file.is_absolute() and not site_file.exists()
    return False


def _run_coroutine(factory: Callable[[], Coroutine[Any, Any, None]]) -> None:
    """Run a coroutine to completion from this blocking code, also when called inside an event loop
    (the tests call `up()` from async code): then in a thread of its own."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        asyncio.run(factory())
        return
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(asyncio.run, factory()).result()


def _split(hostport: str) -> tuple[str, int]:
    host, _, port = hostport.rpartition(":")
    return host, int(port)


def _registrar(bind: str) -> str:
    host, port = _split(bind)
    return f"{'127.0.0.1' if host in ('0.0.0.0', '') else host}:{port}"
