"""The report as HTML for print and as PDF, printed by Debian's chromium (headless).

The PDF is what the 個人情報保護管理者 signs and files; chromium is the browser the project
already uses for its browser tests, so no PDF library is added for it.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from pathlib import Path

import jinja2

from outreach.compliance.model import Report
from outreach.errors import ConfigError

PRINT_SECONDS = 60
CHROMIUM_ARGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--no-pdf-header-footer",
)


def html(report: Report, templates_dir: Path) -> str:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(templates_dir / "web" / "staff"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
    )
    return env.get_template("compliance/print.html").render(r=report)


def chromium() -> str:
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    raise ConfigError("PDF needs Debian's chromium: apt-get install chromium")


async def pdf(report: Report, templates_dir: Path) -> bytes:
    """The report printed to PDF (A4)."""
    exe = chromium()
    with tempfile.TemporaryDirectory(prefix="outreach-report-") as tmp:
        src, out = Path(tmp) / "report.html", Path(tmp) / "report.pdf"
        await asyncio.to_thread(src.write_text, html(report, templates_dir), "utf-8")
        proc = await asyncio.create_subprocess_exec(
            exe,
            *CHROMIUM_ARGS,
            f"--user-data-dir={tmp}/profile",
            f"--print-to-pdf={out}",
            src.as_uri(),
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )
        try:
            await asyncio.wait_for(proc.wait(), PRINT_SECONDS)
        except TimeoutError:
            proc.kill()
            await proc.wait()
            raise ConfigError("chromium did not finish printing the report") from None
        data = await asyncio.to_thread(out.read_bytes) if out.exists() else b""
    if not data.startswith(b"%PDF"):
        raise ConfigError(f"chromium printed no PDF (exit {proc.returncode})")
    return data
