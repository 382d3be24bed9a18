"""A broken policy file stops `outreach serve` and `outreach worker` at start with one clear
line — the file, the line and the field — and the configuration exit code 2, never a
traceback, on both databases (real subprocesses)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO, cli_env

OUTREACH = str(Path(sys.executable).parent / "outreach")

# file → (text to replace, its broken form, the field the error names)
BREAKS = {
    "dealer.demo.toml": (
        'contact_phone = "03-5945-0121"',
        "contact_phone = 359450121",
        "dealer.contact_phone",
    ),
    "purposes.toml": ('category = "survey"', 'category = "spam"', "purposes.p4.category"),
    "gate.toml": ("max_contacts = 4", "max_contacts = -1", "frequency.max_contacts"),
    "sending.toml": ("batch = 250", "batch = 0", "worker.batch"),
    "reminders.toml": ("chunk_size = 2000", 'chunk_size = "2000"', "chunk_size"),
}
COMMANDS = {
    # `serve` checks the files before uvicorn starts; a healthy serve would not exit at all.
    "serve": ("serve", "--port", "0", "--no-scheduler"),
    "worker": ("worker", "--once"),
}


def _broken_config(tmp_path: Path, name: str) -> tuple[Path, Path, int]:
    """A copy of config/ with `name` broken: (config dir, broken file, its broken line)."""
    config = tmp_path / "config"
    shutil.copytree(REPO / "config", config)
    old, new, _ = BREAKS[name]
    path = config / name
    text = path.read_text(encoding="utf-8")
    assert text.count(old) >= 1, (name, old)
    text = text.replace(old, new, 1)
    path.write_text(text, encoding="utf-8")
    line = next(n for n, t in enumerate(text.splitlines(), 1) if t.startswith(new))
    return config, path, line


@pytest.mark.parametrize("command", sorted(COMMANDS))
@pytest.mark.parametrize("name", sorted(BREAKS))
def test_a_broken_policy_file_stops_the_command_at_start(
    tmp_path: Path, db_url: str, name: str, command: str
) -> None:
    config, path, line = _broken_config(tmp_path, name)
    env = cli_env(
        db_url,
        tmp_path / "data",
        OUTREACH_CONFIG_DIR=config,
        OUTREACH_DEALER_FILE=config / "dealer.demo.toml",  # honoured, the demo sender
    )
    r = subprocess.run(
        [OUTREACH, *COMMANDS[command]],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert r.returncode == 2, (r.returncode, r.stderr)
    assert "Traceback" not in r.stderr, r.stderr
    lines = [x for x in r.stderr.splitlines() if x.strip()]
    assert len(lines) == 1, r.stderr
    field = BREAKS[name][2]
    assert lines[0].startswith(f"error: {path}:{line}: {field}: "), lines[0]
