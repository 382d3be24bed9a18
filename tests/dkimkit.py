"""OpenDKIM as a second, independent DKIM verifier (Debian's opendkim-tools).

`opendkim-testmsg` verifies a message read from stdin and looks the key up in the DNS. The
check runs it in a private mount and network namespace (`unshare`, as root — CI and these
machines run as root) whose /etc/resolv.conf points at a one-record DNS server on
127.0.0.1:53 (`python tests/dkimkit.py serve name=TXT…`, dnspython's message codec): no
real DNS, no change to the machine.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

_SCRIPT = """
set -e
ip link set lo up
mount --bind "$1/resolv.conf" /etc/resolv.conf
"$2" "$3" serve "$(cat "$1/record")" > "$1/dns.out" 2>&1 < /dev/null &
server=$!
for _ in $(seq 1 100); do grep -q ready "$1/dns.out" 2>/dev/null && break; sleep 0.05; done
set +e
opendkim-testmsg < "$1/message.eml"
rc=$?
kill "$server"
echo "rc=$rc"
"""


def available() -> bool:
    return shutil.which("opendkim-testmsg") is not None and shutil.which("unshare") is not None


def opendkim_verify(message: bytes, name: str, record: str) -> tuple[int, str]:
    """(exit code, stderr) of opendkim-testmsg verifying `message` with `record` at `name`."""
    with tempfile.TemporaryDirectory(prefix="dkim-") as d:
        work = Path(d)
        (work / "resolv.conf").write_text("nameserver 127.0.0.1\n")
        (work / "record").write_text(f"{name.rstrip('.')}.={record}")
        (work / "message.eml").write_bytes(message)
        (work / "run.sh").write_text(_SCRIPT)
        proc = subprocess.run(
            [
                "unshare",
                "--mount",
                "--net",
                "sh",
                str(work / "run.sh"),
                d,
                sys.executable,
                __file__,
            ],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    last = proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else ""
    assert last.startswith("rc="), (proc.stdout, proc.stderr)
    return int(last[3:]), proc.stderr


def serve(records: dict[str, str]) -> None:
    import dns.message
    import dns.rcode
    import dns.rdatatype
    import dns.rrset

    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 53))
    print("ready", flush=True)
    while True:
        data, peer = sock.recvfrom(4096)
        query = dns.message.from_wire(data)
        reply = dns.message.make_response(query)
        for q in query.question:
            name = q.name.to_text()
            if q.rdtype == dns.rdatatype.TXT and name in records:
                v = records[name]
                strings = " ".join(f'"{v[i : i + 250]}"' for i in range(0, len(v), 250))
                reply.answer.append(dns.rrset.from_text(name, 60, "IN", "TXT", strings))
            else:
                reply.set_rcode(dns.rcode.NXDOMAIN)
        sock.sendto(reply.to_wire(), peer)


if __name__ == "__main__" and sys.argv[1:2] == ["serve"]:
    serve(dict(a.split("=", 1) for a in sys.argv[2:]))
