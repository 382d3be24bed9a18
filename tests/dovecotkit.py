"""A real IMAP server (Debian's dovecot-imapd) on a loopback port, configured in a test-owned
directory (`dovecot -c FILE`, its own base_dir and instance name): STARTTLS with a throwaway
certificate for 127.0.0.1, one user `fbl` (password `secret`) whose INBOX is a Maildir."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from sendkit import free_port

NOBODY = 65534


def available() -> str | None:
    if shutil.which("dovecot") is None:
        return "Debian's dovecot-imapd package is not installed (make mailservers)"
    if shutil.which("openssl") is None:
        return "openssl is needed for the test certificate"
    if os.geteuid() != 0:
        return "starting a Dovecot master needs root"
    return None


@dataclass
class Dovecot:
    root: Path
    port: int

    @property
    def inbox(self) -> Path:
        return self.root / "mail" / "fbl"

    @property
    def url(self) -> str:
        cafile = self.root / "cert.pem"
        return f"imap://fbl:secret@127.0.0.1:{self.port}/INBOX?cafile={cafile}"

    def deliver(self, name: str, raw: bytes) -> None:
        path = self.inbox / "new" / f"{name}.test"
        path.write_bytes(raw)
        os.chown(path, NOBODY, NOBODY)

    def stop(self) -> None:
        pid_file = self.root / "run" / "master.pid"
        if pid_file.exists():
            pid = int(pid_file.read_text().split()[0])
            os.kill(pid, signal.SIGTERM)  # only this instance's master: its own pid file
            for _ in range(100):
                if not pid_file.exists():
                    break
                time.sleep(0.05)


def start(root: Path) -> Dovecot:
    dv = Dovecot(root, free_port())
    root.chmod(0o755)
    (root / "run").mkdir()
    for sub in ("cur", "new", "tmp"):
        (dv.inbox / sub).mkdir(parents=True, exist_ok=True)
    for dirpath, _, _ in os.walk(root / "mail"):
        os.chown(dirpath, NOBODY, NOBODY)
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
         "-keyout", str(root / "key.pem"), "-out", str(root / "cert.pem"),
         "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    conf = root / "dovecot.conf"
    conf.write_text(
        f"""\
protocols = imap
listen = 127.0.0.1
base_dir = {root}/run
instance_name = outreach-test-{dv.port}
log_path = {root}/dovecot.log
ssl = required
ssl_cert = <{root}/cert.pem
ssl_key = <{root}/key.pem
disable_plaintext_auth = yes
auth_mechanisms = plain
passdb {{
  driver = static
  args = password=secret
}}
userdb {{
  driver = static
  args = uid={NOBODY} gid={NOBODY} home={root}/mail/%u
}}
mail_location = maildir:{root}/mail/%u
default_internal_user = nobody
default_login_user = nobody
service imap-login {{
  chroot =
  inet_listener imap {{
    port = {dv.port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
service anvil {{
  chroot =
}}
"""
    )
    # the daemon keeps inherited pipes open: no capture, or run() would wait for it
    subprocess.run(
        ["dovecot", "-c", str(conf)],
        check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=60,
    )  # fmt: skip
    return dv
