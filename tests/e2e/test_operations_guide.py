"""docs/operations.md's `sh test` blocks, run in order against PostgreSQL and a running
`outreach serve`, with only the host, port, folders and database names changed to a
scratch setup; and the systemd units in config/systemd validated by `systemd-analyze`."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import httpx
import pytest
from conftest import PG_ADMIN_URL, REPO, _pg_admin, cli_env
from sendkit import free_port
from sqlalchemy.engine import make_url

GUIDE = REPO / "docs" / "operations.md"
UNITS = REPO / "config" / "systemd"
BLOCK = re.compile(r"^( *)```sh test\n(.*?)^\1```", re.S | re.M)
TOKEN = "scrape-token-for-the-guide-test"


def guide_blocks() -> list[str]:
    blocks = []
    for indent, body in BLOCK.findall(GUIDE.read_text(encoding="utf-8")):
        blocks.append("\n".join(line[len(indent) :] for line in body.splitlines()))
    return blocks


def scratch_units(dest: Path) -> Path:
    """The units as installed, pointing at this checkout instead of /opt/outreach."""
    dest.mkdir(parents=True, exist_ok=True)
    for unit in UNITS.glob("*.service"):
        text = unit.read_text().replace("/opt/outreach", str(REPO))
        (dest / unit.name).write_text(text)
    for unit in UNITS.glob("*.timer"):
        shutil.copy(unit, dest / unit.name)
    shutil.copy(dest / "outreach-worker@.service", dest / "outreach-worker@1.service")
    return dest


def test_the_guide_has_guide_blocks_for_each_runbook() -> None:
    text = "\n".join(guide_blocks())
    for needed in ("/readyz", "/metrics", "outreach backup", "outreach restore",
                   "consent verify", "openssl genrsa", "systemd-analyze verify"):  # fmt: skip
        assert needed in text


def test_the_systemd_units_verify(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze not installed (Debian package systemd)")
    units = scratch_units(tmp_path / "units")
    names = ["outreach-serve.service", "outreach-worker@1.service",
             "outreach-backup.service", "outreach-backup.timer"]  # fmt: skip
    r = subprocess.run(
        [analyze, "verify", *names], cwd=units, capture_output=True, text=True, check=False
    )
    assert r.returncode == 0 and r.stderr.strip() == "", r.stderr  # not even a warning


async def test_the_guide_commands_run(pg_url: str, tmp_path: Path) -> None:
    data, backups = tmp_path / "data", tmp_path / "backups"
    backups.mkdir()
    port = free_port()
    drill = f"outreach_drill_{uuid.uuid4().hex[:10]}"
    admin = make_url(PG_ADMIN_URL)
    env = cli_env(pg_url, data, OUTREACH_METRICS_TOKEN=TOKEN)
    env["PATH"] = f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}"
    env.update(PGHOST=admin.host or "127.0.0.1", PGPORT=str(admin.port or 5432))
    env["PGUSER"] = admin.username or "postgres"
    base = make_url(PG_ADMIN_URL).set(database="").render_as_string(hide_password=False)
    swaps = {
        "http://127.0.0.1:8000": f"http://127.0.0.1:{port}",
        "/var/backups/outreach": str(backups),
        "/etc/systemd/system/": f"{scratch_units(tmp_path / 'units')}/",
        "sudo -u postgres ": "",
        "createdb -O outreach ": "createdb ",
        "outreach_restore_drill": drill,
        "postgresql://outreach@127.0.0.1/": base.rstrip("/") + "/",
    }
    if shutil.which("systemd-analyze") is None:
        swaps["systemd-analyze verify"] = "true"
    seeded = subprocess.run(  # noqa: ASYNC221 (setup, before the server starts)
        ["outreach", "demo-data", "--customers", "50"], env=env, capture_output=True, text=True,
        timeout=300, check=False,
    )  # fmt: skip
    assert seeded.returncode == 0, seeded.stderr
    serve = await asyncio.create_subprocess_exec(
        "outreach", "serve", "--port", str(port), env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    ran = []
    try:
        async with httpx.AsyncClient(timeout=5) as http:
            for _ in range(300):
                try:
                    if (await http.get(f"http://127.0.0.1:{port}/livez")).status_code == 200:
                        break
                except httpx.HTTPError:
                    await asyncio.sleep(0.1)
            else:
                raise AssertionError("serve did not start")
        for block in guide_blocks():
            script = block
            for old, new in swaps.items():
                script = script.replace(old, new)
            proc = await asyncio.create_subprocess_exec(
                "bash", "-euo", "pipefail", "-c", script, cwd=tmp_path, env=env,
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
            )  # fmt: skip
            out, err = await asyncio.wait_for(proc.communicate(), timeout=300)
            assert proc.returncode == 0, f"{block}\n--- stdout\n{out.decode()}\n--- {err.decode()}"
            ran.append((block, out.decode()))
    finally:
        serve.send_signal(signal.SIGTERM)
        await asyncio.wait_for(serve.communicate(), timeout=60)
        _pg_admin(f"DROP DATABASE IF EXISTS {drill} WITH (FORCE)")
    assert len(ran) == len(guide_blocks()) >= 6
    outputs = "\n".join(out for _, out in ran)
    assert '"status":"ok"' in outputs.replace(" ", "")  # /readyz
    assert "outreach_database_up 1" in outputs
    assert list(backups.glob("*.dump")) and (tmp_path / "dkim-s2027.pem").exists()
