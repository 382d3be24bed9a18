"""The built-in local capture: each message kept as an .eml file under the data folder.

`outreach demo` sends real MIME messages into `data_dir/outbox-capture` on a fresh machine.
"""

from __future__ import annotations

from pathlib import Path

from outreach.send import file


def capture_dir(data_dir: Path) -> Path:
    return data_dir / "outbox-capture"


def transport(data_dir: Path) -> file.FileTransport:
    return file.FileTransport(capture_dir(data_dir))
