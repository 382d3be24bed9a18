"""A real Postfix (Debian's package) on a loopback port, configured in a test-owned directory
(`postfix -c DIR`), so it touches no system mail setup and no other instance.

It accepts mail for `customers.test` from 127.0.0.1: the addresses listed in `bounce` fail
with `5.1.1 User unknown` after acceptance (the error transport: an asynchronous bounce, a DSN
like any relay's), every other address is accepted and discarded ("delivered"). Bounces go to
the envelope sender; mail for `mail.example-lexus-dealer.jp` (our bounce address) is delivered
by the virtual agent into the Maildir `maildir` — the report mailbox `feedback ingest` reads.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from sendkit import free_port

NOBODY = 65534
MASTER_CF = """\
127.0.0.1:{port} inet n - n - - smtpd
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
virtual   unix  -       n       n       -       -       virtual
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
"""


def available() -> str | None:
    """Why a private Postfix cannot run here, or None."""
    if shutil.which("postfix") is None:
        return "Debian's postfix package is not installed (make postfix)"
    if os.geteuid() != 0:
        return "starting a Postfix master needs root"
    return None


@dataclass
class Postfix:
    root: Path
    port: int

    @property
    def conf(self) -> Path:
        return self.root / "conf"

    @property
    def maildir(self) -> Path:
        return self.root / "mail" / "feedback"

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"

    def log(self) -> str:
        path = self.root / "maillog"
        return path.read_text(errors="replace") if path.exists() else ""

    def wait_for_mail(self, n: int, timeout: float = 60.0) -> list[Path]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = sorted((self.maildir / "new").glob("*"))
            if len(found) >= n:
                return found
            subprocess.run(["postfix", "-c", str(self.conf), "flush"], capture_output=True)
            time.sleep(0.5)
        raise AssertionError(
            f"{n} mails expected in the Maildir; Postfix log:\n{self.log()[-3000:]}"
        )

    def stop(self) -> None:
        subprocess.run(["postfix", "-c", str(self.conf), "stop"], capture_output=True, timeout=60)


def start(root: Path, *, bounce: list[str]) -> Postfix:
    pf = Postfix(root, free_port())
    root.chmod(0o755)  # the postfix and nobody users must reach their folders
    for d in ("conf", "queue", "data", "mail"):
        (root / d).mkdir(parents=True, exist_ok=True)
    shutil.chown(root / "data", "postfix")
    for sub in ("cur", "new", "tmp"):
        (pf.maildir / sub).mkdir(parents=True, exist_ok=True)
    for p in [root / "mail", pf.maildir, *(pf.maildir / s for s in ("cur", "new", "tmp"))]:
        os.chown(p, NOBODY, NOBODY)
    transport = "".join(f"{a} error:5.1.1 User unknown\n" for a in bounce)
    (pf.conf / "transport").write_text(transport + "customers.test discard:delivered\n")
    (pf.conf / "vmailbox").write_text(
        "reminder@mail.example-lexus-dealer.jp feedback/\n"
        "news@mail.example-lexus-dealer.jp feedback/\n"
    )
    (pf.conf / "master.cf").write_text(MASTER_CF.format(port=pf.port))
    (pf.conf / "main.cf").write_text(
        f"""\
compatibility_level = 3.6
queue_directory = {root}/queue
data_directory = {root}/data
mail_owner = postfix
setgid_group = postdrop
myhostname = mx.outreach-test.invalid
mydomain = outreach-test.invalid
mydestination =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
smtpd_relay_restrictions = permit_mynetworks, reject
smtpd_recipient_restrictions = permit_mynetworks, reject
smtpd_reject_unlisted_recipient = no
relay_domains = customers.test
transport_maps = texthash:{pf.conf}/transport
virtual_mailbox_domains = mail.example-lexus-dealer.jp
virtual_mailbox_base = {root}/mail
virtual_mailbox_maps = texthash:{pf.conf}/vmailbox
virtual_uid_maps = static:{NOBODY}
virtual_gid_maps = static:{NOBODY}
maillog_file = {root}/maillog
maillog_file_prefixes = {root}
alias_maps =
alias_database =
biff = no
smtputf8_enable = no
notify_classes =
"""
    )
    r = subprocess.run(
        ["postfix", "-c", str(pf.conf), "start"], capture_output=True, text=True, timeout=60
    )
    if r.returncode != 0:
        raise RuntimeError(f"postfix did not start: {r.stderr or r.stdout}\n{pf.log()}")
    return pf
