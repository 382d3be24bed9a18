"""The browser the browser tests drive: Debian's `chromium`, headless, set up as a Japanese
dealer's machine. Its own language comes from LANG/LANGUAGE (with the `chromium-l10n`
package, which `make browser` installs): date and time inputs then show 2026/12/04 09:30,
as staff see them, not 12/04/2026, 09:30 AM. Each page's `locale="ja-JP"` sets what the
page's scripts and Accept-Language see."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--lang=ja-JP",
]


def need_chromium() -> None:
    if Path(CHROMIUM).exists():
        return
    if os.geteuid() == 0:
        pytest.fail(f"{CHROMIUM} missing: run `make browser` (apt-get install chromium)")
    pytest.skip(f"{CHROMIUM} missing and not root: `sudo apt-get install chromium`")


async def launch(p: Any) -> Any:
    """Chromium from a Playwright instance (`async_playwright()`), in Japanese."""
    env = {**os.environ, "LANG": "ja_JP.UTF-8", "LANGUAGE": "ja"}
    return await p.chromium.launch(executable_path=CHROMIUM, args=ARGS, env=env)
