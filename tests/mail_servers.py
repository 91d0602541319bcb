"""Real mail servers of a test's own, on loopback: Debian's dovecot (IMAP) serving two mailboxes, the
hotline's and a citizen's, and Debian's aiosmtpd (SMTP) delivering what it receives into the citizen's.
Started and stopped by the fixture; nothing of the machine's own mail set-up is touched."""

from __future__ import annotations

import imaplib
import mailbox
import os
import shutil
import subprocess
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from email import message_from_bytes, policy
from pathlib import Path

import pytest

from tests.agi_peer import free_ports
from tests.processes import wait_for_port

PASSWORD = "hop-thu-1022-thu-nghiem"  # imaplib logs in with ASCII
DOVECOT_CONF = """
protocols = imap
listen = 127.0.0.1
base_dir = {root}/run
state_dir = {root}/state
log_path = {root}/dovecot.log
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
first_valid_uid = 0
mail_location = maildir:{root}/mail/%n/Maildir
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%n {root}/users
}}
userdb {{
  driver = static
  args = uid=mail gid=mail home={root}/mail/%n
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
# The test's folders are root's alone (mode 0700): the services that read them run as root.
service auth {{
  user = root
}}
service auth-worker {{
  user = root
}}
service anvil {{
  chroot =
}}
service imap-login {{
  chroot =
}}
"""


@dataclass
class MailServers:
    root: Path
    imap_port: int
    smtp_port: int

    def maildir(self, user: str) -> mailbox.Maildir:
        return mailbox.Maildir(self.root / "mail" / user / "Maildir", create=True)

    def imap(self, user: str) -> imaplib.IMAP4:
        box = imaplib.IMAP4("127.0.0.1", self.imap_port, timeout=10)
        box.login(user, PASSWORD)
        box.select("INBOX")
        return box

    def subjects(self, user: str) -> Counter[str]:
        """How many messages of each subject arrived in the user's mailbox."""
        box = self.maildir(user)
        return Counter(
            str(message_from_bytes(box.get_bytes(key), policy=policy.default)["Subject"])
            for key in box.iterkeys()
        )

    def deliver(self, user: str, raw: bytes) -> None:
        """A message arrives in the user's INBOX (over IMAP, as a delivery agent would put it)."""
        box = self.imap(user)
        try:
            status, _ = box.append("INBOX", "", imaplib.Time2Internaldate(time.time()), raw)
            assert status == "OK"
        finally:
            box.logout()


@pytest.fixture
def mail_servers() -> Iterator[MailServers]:
    if not shutil.which("dovecot"):
        raise RuntimeError("dovecot is not installed; scripts/test installs Debian's dovecot-imapd")
    # Mail is stored as Debian's "mail" user (dovecot serves no mailbox as root): a folder it can reach.
    root = Path(tempfile.mkdtemp(prefix="hotline-mail-"))
    root.chmod(0o755)
    for folder in ("run", "state", "mail/hotline/Maildir", "mail/citizen/Maildir"):
        (root / folder).mkdir(parents=True, exist_ok=True)
    for user in ("hotline", "citizen"):
        maildir = root / "mail" / user / "Maildir"
        for sub in ("cur", "new", "tmp"):
            (maildir / sub).mkdir(exist_ok=True)
        for path in (root / "mail" / user, maildir, *(maildir / sub for sub in ("cur", "new", "tmp"))):
            shutil.chown(path, "mail", "mail")
    (root / "users").write_text(
        "".join(f"{user}:{{PLAIN}}{PASSWORD}::::::\n" for user in ("hotline", "citizen")), encoding="utf-8"
    )
    os.chmod(root / "users", 0o600)
    servers = MailServers(root, *free_ports(2))
    conf = root / "dovecot.conf"
    conf.write_text(DOVECOT_CONF.format(root=root, port=servers.imap_port), encoding="utf-8")
    dovecot = subprocess.Popen(
        ["dovecot", "-F", "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    smtp = subprocess.Popen(
        [
            "/usr/bin/python3",
            "-m",
            "aiosmtpd",
            "-n",
            "-l",
            f"127.0.0.1:{servers.smtp_port}",
            "-c",
            "aiosmtpd.handlers.Mailbox",
            str(root / "mail" / "citizen" / "Maildir"),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        user="mail",
        group="mail",
    )
    try:
        wait_for_port(servers.imap_port, dovecot, "dovecot", root / "dovecot.log")
        wait_for_port(servers.smtp_port, smtp, "aiosmtpd")
        yield servers
    finally:
        for process in (smtp, dovecot):
            process.terminate()
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
        shutil.rmtree(root, ignore_errors=True)
