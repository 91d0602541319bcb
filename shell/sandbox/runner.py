"""`hotline sandbox up | down | status`: a local Asterisk 22 and baresip agent phones in a chroot.

The chroot shares the host's network, so the hotline on the host reaches AMI, FastAGI and SIP over
127.0.0.1. The rendered config, the state folder and the recordings are bind-mounted at the same paths
inside, so a file name Asterisk writes means the same file on the host. `down` stops only the processes
`up` started (by pid) and removes only the mounts it made.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import json
import os
import signal
import socket
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
from shell.sandbox import phones, rootfs

Log = Callable[[str], None]
BOOT_TIMEOUT = 60.0
REGISTER_TIMEOUT = 30.0


@dataclass
class SandboxState:
    root: str
    config: str
    asterisk_pid: int = 0
    phone_pids: dict[str, int] = field(default_factory=dict)
    mounts: list[str] = field(default_factory=list)
    started_at: float = 0.0

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
    def __init__(self, settings: Settings, log: Log = print) -> None:
        self.settings = settings
        self.log = log
        self.root = Path(settings.sandbox.root)
        self.state_file = settings.state_path / "sandbox" / "state.json"

    # -- public --------------------------------------------------------------------------------
    def up(self) -> SandboxState:
        rootfs.check_host()
        state = SandboxState.load(self.state_file)
        if state and _alive(state.asterisk_pid, "asterisk"):
            self.log(f"sandbox: already running (asterisk pid {state.asterisk_pid}); reloading its config")
            self._wait_booted()
            asterisk_config.render(self.settings, sandbox=True)
            self._build_prompts()
            self._prepare_dirs(*self._asterisk_ids())
            self.cli("core reload")
            self._wait_registered(list(state.phone_pids))
            return state
        if state:
            self.log("sandbox: cleaning up after an earlier run that did not stop cleanly")
            self.down()
        started = time.monotonic()
        rootfs.build(self.root, self.log)
        asterisk_config.render(self.settings, sandbox=True)
        self._build_prompts()
        self._check_ports_free()
        asterisk_uid, asterisk_gid = self._asterisk_ids()
        self._prepare_dirs(asterisk_uid, asterisk_gid)
        state = SandboxState(root=str(self.root), config=str(self.settings.config_path))
        state.started_at = time.time()
        try:
            self._mount_all(state)
            state.save(self.state_file)
            state.asterisk_pid = self._start_asterisk()
            state.save(self.state_file)
            self._wait_booted()
            # A new site starts with every agent logged in; later starts keep who was (Asterisk's astdb).
            _run_coroutine(self._log_in_agents_if_none)
            for agent in self.settings.phone_agents():
                state.phone_pids[endpoint(agent.extension)] = self._start_phone(agent.extension)
                state.save(self.state_file)
            self._wait_registered(list(state.phone_pids))
            self._check_log()
        except BaseException:
            self.down()
            raise
        self.log(f"sandbox: up in {time.monotonic() - started:.1f} s")
        return state

    def down(self, force: bool = False) -> None:
        state = SandboxState.load(self.state_file)
        if state is None and not force:
            self.log("sandbox: not running")
            return
        if state is not None:
            for name, pid in state.phone_pids.items():
                # A phone unregisters on SIGTERM; with Asterisk gone it would wait for answers in vain.
                _stop(pid, "baresip", self.log, name, timeout=2.0)
            if _alive(state.asterisk_pid, "asterisk"):
                self.cli("core stop now", check=False, timeout=15)
            _stop(state.asterisk_pid, "asterisk", self.log, "asterisk")
            for mount in reversed(state.mounts):
                _umount(mount)
        if force:
            for mount in _mounts_below(self.root):
                _umount(mount)
        self.state_file.unlink(missing_ok=True)
        self.log("sandbox: down")

    def status(self) -> dict[str, object]:
        state = SandboxState.load(self.state_file)
        if state is None:
            return {"running": False}
        info: dict[str, object] = {
            "running": _alive(state.asterisk_pid, "asterisk"),
            "asterisk_pid": state.asterisk_pid,
            "phones": {n: _alive(p, "baresip") for n, p in state.phone_pids.items()},
            "mounts": state.mounts,
        }
        if info["running"]:
            info["uptime"] = self.cli("core show uptime seconds", check=False).strip()
            info["contacts"] = self.registered()
        return info

    def cli(self, command: str, check: bool = True, timeout: float = 10) -> str:
        """Run an Asterisk CLI command in the sandbox (asterisk -rx)."""
        conf = self.settings.config_path / "asterisk.conf"
        cmd = ["chroot", str(self.root), "asterisk", "-C", str(conf), "-rx", command]
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
        return phones.PhoneControl(self._phone_ports(account)[1])

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
        folder = self.settings.state_path / "sandbox" / "phones" / account
        spec = phones.PhoneSpec(
            account=account,
            password=site_secrets.sip_secret(self.settings, account),
            sip_port=sip_port,
            control_port=control_port,
            registrar=_registrar(self.settings.sip.bind),
            auto_answer=False,
            display_name=display_name,
            from_user=from_user,
        )
        proc = self._launch_phone(folder, spec)
        try:
            control = phones.PhoneControl(control_port)
            deadline = time.monotonic() + 10
            while True:  # until its control port answers
                try:
                    with socket.create_connection(("127.0.0.1", control_port), 0.5):
                        break
                except OSError:
                    if time.monotonic() > deadline or proc.poll() is not None:
                        raise SandboxError(
                            f"the caller's phone did not start; see {folder}/baresip.log"
                        ) from None
                    time.sleep(0.2)
            yield control
        finally:
            _stop(proc.pid, "baresip", self.log, account, timeout=2.0)

    @property
    def log_file(self) -> Path:
        return self.settings.state_path / "asterisk" / "log" / "messages.log"

    # -- steps ---------------------------------------------------------------------------------
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
        asterisk_dirs = ("asterisk", "asterisk/db", "asterisk/log", "asterisk/spool", "asterisk/run")
        for sub in (*asterisk_dirs, "sandbox/phones"):
            (state / sub).mkdir(parents=True, exist_ok=True)
        for sub in asterisk_dirs:
            os.chown(state / sub, uid, gid)
        recordings = self.settings.recordings_path
        recordings.mkdir(parents=True, exist_ok=True)
        os.chown(recordings, uid, gid)
        for conf in self.settings.config_path.glob("*.conf"):
            os.chown(conf, 0, gid)
        # Asterisk reaches its folders through the group: nobody else may (personal data lives here).
        for shared in (state, self.settings.config_path):
            os.chown(shared, 0, gid)
        for tree in (state, self.settings.config_path, recordings):
            files.tighten(tree, skip=(self.settings.sounds_path,))

    def _mount_all(self, state: SandboxState) -> None:
        def mount(args: list[str], target: Path) -> None:
            target.mkdir(parents=True, exist_ok=True)
            proc = subprocess.run(["mount", *args, str(target)], capture_output=True, text=True)
            if proc.returncode != 0:
                raise SandboxError(f"mount {' '.join(args)} {target} failed: {proc.stderr.strip()}")
            state.mounts.append(str(target))

        mount(["-t", "proc", "proc"], self.root / "proc")
        mount(["--bind", "/dev"], self.root / "dev")
        shared = {self.settings.config_path, self.settings.state_path, self.settings.recordings_path}
        for host_dir in sorted(shared):
            mount(["--bind", str(host_dir)], self.root / str(host_dir).lstrip("/"))
        # The Vietnamese prompts and digits where Asterisk looks for a channel in language vi.
        mount(["--bind", str(self.settings.sounds_path / "vi")], self.root / "usr/share/asterisk/sounds/vi")

    def _start_asterisk(self) -> int:
        conf = self.settings.config_path / "asterisk.conf"
        console = (self.settings.state_path / "asterisk" / "log" / "console.log").open("ab")
        proc = subprocess.Popen(
            ["chroot", str(self.root), "asterisk", "-f", "-U", "asterisk", "-G", "asterisk", "-C", str(conf)],
            stdin=subprocess.DEVNULL,
            stdout=console,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # outlives the command that started it; stopped by pid in down()
            umask=files.UMASK,  # recordings and logs 0640, their folders 0750
        )
        self.log(f"sandbox: asterisk started (pid {proc.pid})")
        return proc.pid

    def _wait_booted(self) -> None:
        deadline = time.monotonic() + BOOT_TIMEOUT
        while time.monotonic() < deadline:
            out = self.cli("core waitfullybooted", check=False, timeout=BOOT_TIMEOUT)
            if "fully booted" in out.lower():
                return
            time.sleep(0.3)
        raise SandboxError(f"Asterisk did not finish booting in {BOOT_TIMEOUT:.0f} s; see {self.log_file}")

    def _phone_ports(self, account: str) -> tuple[int, int]:
        names = [endpoint(a.extension) for a in self.settings.agents]
        index = names.index(account)
        sb = self.settings.sandbox
        return sb.phone_port_base + index, sb.control_port_base + index

    def _start_phone(self, extension: str) -> int:
        account = endpoint(extension)
        sip_port, control_port = self._phone_ports(account)
        folder = self.settings.state_path / "sandbox" / "phones" / account
        spec = phones.PhoneSpec(
            account=account,
            password=site_secrets.sip_secret(self.settings, account),
            sip_port=sip_port,
            control_port=control_port,
            registrar=_registrar(self.settings.sip.bind),
        )
        return self._launch_phone(folder, spec).pid

    def _launch_phone(self, folder: Path, spec: phones.PhoneSpec) -> subprocess.Popen[bytes]:
        """baresip with the phone's config folder, inside the sandbox root, its output in baresip.log."""
        phones.write_config(folder, spec)
        with (folder / "baresip.log").open("ab") as logfile:
            return subprocess.Popen(
                ["chroot", str(self.root), "baresip", "-f", str(folder)],
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
            folder = self.settings.state_path / "sandbox" / "phones"
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


def _alive(pid: int, name: str) -> bool:
    """True if pid runs a program called name (a recycled pid of another program is not ours)."""
    if pid <= 0:
        return False
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return any(Path(arg.decode(errors="replace")).name == name for arg in cmdline[:8])


def _stop(pid: int, name: str, log: Log, label: str, timeout: float = 10.0) -> None:
    if not _alive(pid, name):
        _reap(pid)
        return
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            break
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and _alive(pid, name):
            _reap(pid)
            time.sleep(0.1)
        if not _alive(pid, name):
            break
        log(f"sandbox: {label} (pid {pid}) still running {timeout:.0f} s after SIGTERM; killing it")
    _reap(pid)


def _reap(pid: int) -> None:
    """Collect our own child so it does not linger as a zombie (other processes' children are not ours)."""
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def _mounts_below(root: Path) -> list[str]:
    mounts = [line.split()[1] for line in Path("/proc/mounts").read_text().splitlines()]
    return sorted((m for m in mounts if m.startswith(f"{root}/")), reverse=True)


def _umount(target: str) -> None:
    if target not in {line.split()[1] for line in Path("/proc/mounts").read_text().splitlines()}:
        return
    proc = subprocess.run(["umount", target], capture_output=True, text=True)
    if proc.returncode != 0:
        # Busy (a straggler still has a file open): detach now, the kernel finishes when it closes.
        subprocess.run(["umount", "-l", target], check=False)
